package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestServiceEntryResolutionsAndConflict: through the real binary, a
// ServiceEntry with resolution NONE (its exact host resolved by DNS), one
// with DNS_ROUND_ROBIN, and a TCPRoute to a ServiceEntry; two entries
// declaring the same host: both stay usable by name, and the newer one is
// reported (HostConflict) in /api/status naming the winner.
func TestServiceEntryResolutionsAndConflict(t *testing.T) {
	older := startHTTPBackend(t, "older")
	newer := startHTTPBackend(t, "newer")
	none := startHTTPBackend(t, "none")
	rr := startHTTPBackend(t, "rr")
	port, tcpPort := freePort(t), freePort(t)
	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - {name: tcp, protocol: TCP, port: %d}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: older
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  hosts: [shared.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: newer
  creationTimestamp: "2024-06-01T00:00:00Z"
spec:
  hosts: [shared.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: none
spec:
  hosts: [localhost]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: rr
spec:
  hosts: [localhost]
  exportTo: ["."]
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: %d}
  - {number: 5000, name: tcp, protocol: TCP, targetPort: %d}
  resolution: DNS_ROUND_ROBIN
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs: [{name: web, sectionName: http}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /older}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: older, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /newer}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: newer, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /none}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: none, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /rr}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: rr, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: t
spec:
  parentRefs: [{name: web, sectionName: tcp}]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: rr, port: 5000}]
`, port, tcpPort, older.port, newer.port, none.port, rr.port, rr.port)
	g := startGateway(t, map[string]string{"config.yaml": config})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, path := range []string{"/older", "/newer", "/none", "/rr"} {
		g.expectServed(c, base+path, "any.test", 200, strings.TrimPrefix(path, "/"))
	}
	// The TCP listener proxies the byte stream: an HTTP request reaches rr.
	g.expectServed(c, fmt.Sprintf("http://127.0.0.1:%d/", tcpPort), "any.test", 200, "rr")

	g.waitStatusContains("gateway.edgeway.dev/HostConflict")
	st := g.status()
	// newer loses shared.test to older (created first); rr and none, both
	// declaring localhost without a creationTimestamp, tie on age: none
	// wins by name, in rr's namespace (rr is exported only there).
	for _, want := range []string{
		`loses host "shared.test" to ServiceEntry default/older in every namespace`,
		`loses host "localhost" to ServiceEntry default/none in namespace default`,
	} {
		if !strings.Contains(strings.Join(strings.Fields(st), " "), want) {
			t.Errorf("the status lacks %q:\n%s", want, st)
		}
	}
	if n := strings.Count(st, "kind: ServiceEntry"); n != 2 {
		t.Errorf("%d ServiceEntries reported, want 2 (newer, rr):\n%s", n, st)
	}
}
