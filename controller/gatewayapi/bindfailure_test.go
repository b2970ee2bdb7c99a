package gatewayapi

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// bindFailuresInput: Gateways in file mode on 127.0.0.1, 127.0.0.2 and
// every address, with TCP and UDP listeners on one port number.
const bindFailuresInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - {name: dns, port: 8053, protocol: UDP}
  - {name: db, port: 8053, protocol: TCP}
  - {name: other, port: 8081, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: elsewhere, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.2}]
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: everywhere, namespace: default, creationTimestamp: "2024-01-03T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, port: 9090, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: dns, namespace: default}
spec:
  parentRefs: [{name: web, sectionName: dns}]
  rules: [{backendRefs: [{name: dns, port: 53}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: db, namespace: default}
spec:
  parentRefs: [{name: web, sectionName: db}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec: {ports: [{port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {ports: [{port: 5432}]}
`

// TestBindFailuresRefuseTheirSocketOnly: a listener on a socket the data
// plane failed to bind is refused with PortUnavailable, naming the field,
// the socket and the system's reason, and is not bound; the other
// transport on that port number, the same port on another IP, and every
// other listener are served.
func TestBindFailuresRefuseTheirSocketOnly(t *testing.T) {
	snap := parseSnapshot(t, bindFailuresInput)
	snap.BindFailures = []snapshot.BindFailure{
		{Address: "127.0.0.1", Port: 8080, Error: "bind: address already in use"},
		{Address: "127.0.0.1", Port: 8053, UDP: true, Error: "bind: address already in use"},
		{Address: "0.0.0.0", Port: 9090, Error: "bind: permission denied"},
		{Address: "127.0.0.1", Port: 8081, UDP: true, Error: "bind: address already in use"}, // no UDP listener there
	}
	out, st := Translate(snap)

	var bound []string
	for _, l := range out.Listeners {
		bound = append(bound, l.Name)
	}
	want := []string{"127.0.0.1:8053", "127.0.0.1:8081", "127.0.0.2:8080"}
	if !slices.Equal(bound, want) {
		t.Errorf("bound sockets %v, want %v", bound, want)
	}

	accepted, refused := listenerVerdicts(t, st)
	const retry = "; free the port or use another (edgeway tries the port again by itself, and at once on SIGHUP)"
	wantRefused := map[string]string{
		"web/http":        "spec.listeners[0].port: the data plane could not bind 127.0.0.1:8080: bind: address already in use" + retry,
		"web/dns":         "spec.listeners[1].port: the data plane could not bind 127.0.0.1:8053: bind: address already in use" + retry,
		"everywhere/http": "spec.listeners[0].port: the data plane could not bind 0.0.0.0:9090: bind: permission denied" + retry,
	}
	for name, msg := range wantRefused {
		if refused[name] != msg {
			t.Errorf("%s: Accepted message %q, want %q", name, refused[name], msg)
		}
	}
	for name := range refused {
		if _, ok := wantRefused[name]; !ok {
			t.Errorf("%s refused: %s", name, refused[name])
		}
	}
	if want := []string{"elsewhere/http", "web/db", "web/other"}; !slices.Equal(accepted, want) {
		t.Errorf("accepted listeners %v, want %v", accepted, want)
	}
	// A Gateway whose every listener failed is not accepted (no valid
	// listener), as for any other refusal; the others are Programmed.
	for _, g := range st.Gateways {
		c := meta.FindStatusCondition(g.Status.Conditions, string(gwv1.GatewayConditionProgrammed))
		if wantTrue := g.Name != "everywhere"; c == nil || (c.Status == metav1.ConditionTrue) != wantTrue {
			t.Errorf("Gateway %s: Programmed %+v", g.Name, c)
		}
	}
}

func TestSameIP(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"::1", "0:0:0:0:0:0:0:1", true},
		{"::", "0.0.0.0", false},
		{"127.0.0.1", "127.0.0.2", false},
		{"not-an-ip", "127.0.0.1", false},
	} {
		if got := sameIP(c.a, c.b); got != c.want {
			t.Errorf("sameIP(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
