package gatewayapi

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// reservedPortsInput: Gateways in file mode on 127.0.0.1, 127.0.0.2 and
// every address, with listeners on the two ports the test reserves on
// 127.0.0.1 (as standalone reserves its admin and xDS servers' ports).
const reservedPortsInput = `
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
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - {name: admin, port: 19000, protocol: HTTP}
  - {name: dns, port: 19000, protocol: UDP}
  - name: passthrough
    port: 18000
    protocol: TLS
    tls: {mode: Passthrough}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: elsewhere, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.2}]
  listeners:
  - {name: http, port: 19000, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: everywhere, namespace: default, creationTimestamp: "2024-01-03T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, port: 19000, protocol: HTTP}
  - {name: other, port: 8081, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: default, creationTimestamp: "2024-01-04T00:00:00Z"}
spec:
  parentRef: {name: web}
  listeners:
  - {name: db, port: 19000, protocol: TCP}
  - {name: shop, port: 8082, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: web, sectionName: http}]
  rules: [{backendRefs: [{name: app, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: dns, namespace: default}
spec:
  parentRefs: [{name: web, sectionName: dns}]
  rules: [{backendRefs: [{name: dns, port: 53}]}]
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec: {ports: [{port: 53, protocol: UDP}]}
`

// TestReservedPortsRefuseTheirListenersOnly: a listener on a port the data
// plane itself listens on is refused with PortUnavailable, naming the field,
// the port and what holds it, and is not bound; a UDP listener on that port
// number, a listener on another IP, and every other listener are served.
func TestReservedPortsRefuseTheirListenersOnly(t *testing.T) {
	snap := parseSnapshot(t, reservedPortsInput)
	snap.ReservedPorts = []snapshot.ReservedPort{
		{Address: "127.0.0.1", Port: 19000, Owner: "the admin server"},
		{Address: "127.0.0.1", Port: 18000, Owner: "the xDS server"},
	}
	out, st := Translate(snap)

	var bound []string
	for _, l := range out.Listeners {
		bound = append(bound, l.Name)
	}
	want := []string{"0.0.0.0:8081", "127.0.0.1:19000/udp", "127.0.0.1:8080", "127.0.0.1:8082", "127.0.0.2:19000"}
	if !slices.Equal(bound, want) {
		t.Errorf("bound sockets %v, want %v", bound, want)
	}

	accepted, refused := listenerVerdicts(t, st)
	wantRefused := map[string]string{
		"web/admin":       "spec.listeners[1].port: 19000 is taken by the admin server on 127.0.0.1; use another port",
		"web/passthrough": "spec.listeners[3].port: 18000 is taken by the xDS server on 127.0.0.1; use another port",
		"everywhere/http": "spec.listeners[0].port: 19000 is taken by the admin server on 127.0.0.1; use another port",
		"extra/db":        "spec.listeners[0].port: 19000 is taken by the admin server on 127.0.0.1; use another port",
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
	if want := []string{"elsewhere/http", "everywhere/other", "extra/shop", "web/dns", "web/http"}; !slices.Equal(accepted, want) {
		t.Errorf("accepted listeners %v, want %v", accepted, want)
	}
	for _, r := range st.Routes {
		for _, p := range r.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, string(gwv1.RouteConditionAccepted)); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("route %s: %+v", r.Name, p.Conditions)
			}
		}
	}
}

// listenerVerdicts sorts the listeners of every Gateway and ListenerSet
// ("<parent>/<listener>") into the accepted and the refused, with their
// Accepted message; a refused one must be PortUnavailable and not
// Programmed.
func listenerVerdicts(t *testing.T, st *Statuses) (accepted []string, refused map[string]string) {
	t.Helper()
	refused = map[string]string{}
	check := func(name string, conds []metav1.Condition) {
		a := meta.FindStatusCondition(conds, string(gwv1.ListenerConditionAccepted))
		p := meta.FindStatusCondition(conds, string(gwv1.ListenerConditionProgrammed))
		if a == nil || p == nil {
			t.Fatalf("%s: conditions %+v", name, conds)
		}
		if a.Status == metav1.ConditionTrue {
			accepted = append(accepted, name)
			return
		}
		if a.Reason != string(gwv1.ListenerReasonPortUnavailable) || p.Status != metav1.ConditionFalse {
			t.Errorf("%s: Accepted %s %s, Programmed %s", name, a.Status, a.Reason, p.Status)
		}
		refused[name] = a.Message
	}
	for _, g := range st.Gateways {
		for _, l := range g.Status.Listeners {
			check(g.Name+"/"+string(l.Name), l.Conditions)
		}
	}
	for _, s := range st.ListenerSets {
		for _, l := range s.Status.Listeners {
			check(s.Name+"/"+string(l.Name), l.Conditions)
		}
	}
	slices.Sort(accepted)
	return accepted, refused
}

func TestBindsOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "10.0.0.1", true},
		{"0.0.0.0", "10.0.0.1", true},
		{"0.0.0.0", "0.0.0.0", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"::", "10.0.0.1", true}, // dual-stack
		{"::", "::1", true},
		{"0.0.0.0", "::1", false},
		{"::1", "0:0:0:0:0:0:0:1", true},
		{"fd00::1", "fd00::2", false},
	} {
		if got := bindsOverlap(c.a, c.b); got != c.want {
			t.Errorf("bindsOverlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := bindsOverlap(c.b, c.a); got != c.want {
			t.Errorf("bindsOverlap(%q, %q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}
