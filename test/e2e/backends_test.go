package e2e

import (
	"fmt"
	"testing"
)

// TestBackendKinds: Service + EndpointSlice, ServiceEntry with STATIC endpoints
// (covered everywhere else) and with DNS resolution, an ExternalName Service
// (a DNS alias the data plane resolves; it connects on the Service's port,
// as a client in the cluster would, whatever targetPort says), and 503 for
// a Service without ready endpoints. Names resolve from /etc/hosts only: no
// query leaves the machine.
func TestBackendKinds(t *testing.T) {
	svc := startHTTPBackend(t, "svc")
	dns := startHTTPBackend(t, "dns")
	ext := startHTTPBackend(t, "ext")
	port := freePort(t)
	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports:
  - {name: web, port: 80, targetPort: %d}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-abc
  labels: {kubernetes.io/service-name: svc}
addressType: IPv4
ports:
- {name: web, port: %d}
endpoints:
- addresses: [127.0.0.1]
- addresses: [127.0.0.2]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata:
  name: empty
spec:
  ports:
  - {name: web, port: 80}
---
apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  type: ExternalName
  externalName: localhost
  ports:
  - {name: web, port: %d, targetPort: 1}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: by-dns
spec:
  hosts: [localhost]
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: %d}
  resolution: DNS
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /svc}}]
    backendRefs: [{name: svc, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /empty}}]
    backendRefs: [{name: empty, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /dns}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: by-dns, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /ext}}]
    backendRefs: [{name: ext, port: %d}]
`, port, svc.port, svc.port, ext.port, dns.port, ext.port)
	startGateway(t, map[string]string{"config.yaml": config})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, tc := range []struct {
		path    string
		status  int
		backend string
	}{
		// Only the ready endpoint (127.0.0.1) is used: 127.0.0.2 has no server.
		{"/svc", 200, "svc"}, {"/svc", 200, "svc"}, {"/svc", 200, "svc"}, {"/svc", 200, "svc"},
		{"/empty", 503, ""},
		{"/dns", 200, "dns"},
		{"/ext", 200, "ext"},
	} {
		res, err := do(t, c, "GET", base+tc.path, "any.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.status != tc.status || res.backend != tc.backend {
			t.Errorf("%s: status %d backend %q, want %d %q", tc.path, res.status, res.backend, tc.status, tc.backend)
		}
	}
}
