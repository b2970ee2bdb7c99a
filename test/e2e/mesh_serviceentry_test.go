package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
)

// meshServiceEntryFiles: a Gateway with mesh identity (class edgeway, the
// cacerts Secret) routing to STATIC MESH_INTERNAL ServiceEntries whose one
// endpoint (127.0.0.1, the peer's port) is labelled
// security.istio.io/tlsMode=istio, as Istio's WorkloadEntry of a VM
// sidecar: vm runs as the serviceAccount it declares, vm-pinned declares
// "vm" but reaches a workload running as "impostor"; and a Gateway without
// mesh identity routing to vm.
func meshServiceEntryFiles(cacerts map[string][]byte, httpPort, plainPort, vmPort, impostorPort int) map[string]string {
	var sec strings.Builder
	for _, k := range []string{mesh.KeyCACert, mesh.KeyCAKey, mesh.KeyRootCert, mesh.KeyCertChain} {
		fmt.Fprintf(&sec, "  %s: |\n%s", k, indent(strings.TrimRight(string(cacerts[k]), "\n"), "    ")+"\n")
	}
	entry := func(name, host string, port int) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s}
spec:
  hosts: ["%s"]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: %d}, labels: {security.istio.io/tlsMode: istio}, serviceAccount: vm}
---
`, name, host, port)
	}
	config := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: cacerts, namespace: default}
stringData:
%s---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: EdgewayConfig
metadata: {name: mesh, namespace: default}
spec:
  mesh:
    caSecretRef: {name: cacerts}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec:
  controllerName: edgeway.dev/gateway-controller
  parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, name: mesh, namespace: default}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: plain}
spec:
  controllerName: edgeway.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: nomesh}
spec:
  gatewayClassName: plain
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: vms}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /vm}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: vm, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /pinned}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: vm-pinned, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: nomesh}
spec:
  parentRefs: [{name: nomesh}]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: vm, port: 80}]
---
`, sec.String(), httpPort, plainPort)
	return map[string]string{
		"config.yaml":         config,
		"serviceentries.yaml": entry("vm", "vm.mesh.internal", vmPort) + entry("vm-pinned", "pinned.mesh.internal", impostorPort),
	}
}

// TestMeshServiceEntry: a ServiceEntry endpoint labelled
// security.istio.io/tlsMode=istio in a MESH_INTERNAL entry is a mesh
// workload: the gateway reaches it over Istio mTLS (its SPIFFE identity,
// SNI outbound_.80_._.<the entry's host>, Istio's HTTP/1.1 ALPN) and
// verifies the endpoint's serviceAccount; a Gateway without mesh identity
// reports the route instead of sending plain text.
func TestMeshServiceEntry(t *testing.T) {
	cacerts, err := mesh.GenerateCACerts("edgeway e2e mesh serviceentry", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	vm := startPeer(t, cacerts, "vm", "vm")
	impostor := startPeer(t, cacerts, "impostor", "impostor")
	httpPort, plainPort := freePort(t), freePort(t)
	g := startGateway(t, meshServiceEntryFiles(cacerts, httpPort, plainPort, vm.Port, impostor.Port))
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	const gatewayID = "spiffe://cluster.local/ns/default/sa/gw-edgeway"

	t.Run("mtls", func(t *testing.T) {
		g.expectServed(c, base+"/vm", "shop.example", 200, "vm")
		res, err := do(t, c, "GET", base+"/vm", "shop.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"X-Peer-Identity": gatewayID, "X-Peer-SNI": "outbound_.80_._.vm.mesh.internal",
			"X-Peer-ALPN": "istio-http/1.1,istio", "X-Peer-Proto": "HTTP/1.1"}
		for k, v := range want {
			if got := res.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})
	t.Run("serviceAccount verified", func(t *testing.T) {
		// vm-pinned's endpoint declares serviceAccount vm, but the
		// workload there runs as impostor: the gateway refuses it.
		eventually(t, 10*time.Second, "502 from the gateway for /pinned", func() error {
			res, err := do(t, c, "GET", base+"/pinned", "shop.example", nil)
			if err != nil {
				return err
			}
			if res.status != http.StatusBadGateway || res.backend != "" {
				return fmt.Errorf("got %d from %q, want 502 from the gateway", res.status, res.backend)
			}
			return nil
		})
		// It did reach the impostor, and aborted the handshake there.
		eventually(t, 5*time.Second, "the impostor's failed handshake", func() error {
			if len(impostor.Refused()) == 0 || len(impostor.Accepted()) != 0 {
				return fmt.Errorf("impostor: refused %v, accepted %v", impostor.Refused(), impostor.Accepted())
			}
			return nil
		})
	})
	t.Run("gateway without mesh identity", func(t *testing.T) {
		for _, want := range []string{"reason: MeshIdentityNotConfigured",
			"ServiceEntry default/vm is in the Istio mesh (location MESH_INTERNAL, endpoints labelled security.istio.io/tlsMode=istio) but Gateway default/nomesh has no mesh identity"} {
			eventually(t, 10*time.Second, "status mentioning "+want, func() error {
				if st := strings.Join(strings.Fields(g.status()), " "); !strings.Contains(st, want) {
					return fmt.Errorf("status lacks %q:\n%s", want, g.status())
				}
				return nil
			})
		}
	})
}
