package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/test/meshpeer"
)

// TestMeshIstioCA: a Gateway whose EdgewayConfig sets spec.mesh.istioCA
// gets its workload certificate from Istio's CA signing API (a real gRPC
// server on loopback, test/meshpeer.Istiod, authenticating the token like
// istiod), trusts the mesh root of the istio-ca-root-cert ConfigMap, and
// reaches a STRICT mesh backend with that identity.
func TestMeshIstioCA(t *testing.T) {
	cacerts, err := mesh.GenerateCACerts("edgeway e2e istiod", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const gatewayID = "spiffe://cluster.local/ns/default/sa/gw-edgeway"
	id, _ := url.Parse(gatewayID)
	istiod, err := meshpeer.StartIstiod(cacerts, map[string]*url.URL{"gw-edgeway-token": id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(istiod.Close)
	reviews := startPeer(t, cacerts, "reviews", "reviews")
	port := freePort(t)
	config := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio.io/rev: default}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-ca-root-cert}
data:
  root-cert.pem: |
%s---
apiVersion: v1
kind: Secret
metadata: {name: gw-istio-token}
stringData: {token: gw-edgeway-token}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: EdgewayConfig
metadata: {name: istiod}
spec:
  mesh:
    istioCA:
      address: %s
      tokenSecretRef: {name: gw-istio-token}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec:
  controllerName: edgeway.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: edgeway
  infrastructure:
    parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, name: istiod}
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: reviews, port: 80}]
---
`, indent(strings.TrimRight(string(cacerts[mesh.KeyRootCert]), "\n"), "    ")+"\n", istiod.Addr, port)
	g := startGateway(t, map[string]string{"config.yaml": config, "services.yaml": serviceYAML("reviews", "", reviews.Port)})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	g.expectServed(c, base+"/", "shop.example", 200, "reviews")
	res, err := do(t, c, "GET", base+"/", "shop.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.header.Get("X-Peer-Identity") != gatewayID || res.header.Get("X-Peer-ALPN") != "istio-http/1.1,istio" {
		t.Errorf("backend saw %v", res.header)
	}
	if istiod.Calls.Load() == 0 || istiod.Refused.Load() != 0 {
		t.Errorf("Istio CA: %d calls, %d refused", istiod.Calls.Load(), istiod.Refused.Load())
	}
	eventually(t, 10*time.Second, "MeshIdentityReady naming Istio's CA", func() error {
		if st := strings.Join(strings.Fields(g.status()), " "); !strings.Contains(st, "workload certificate "+gatewayID+" issued by Istio's CA at "+istiod.Addr) {
			return fmt.Errorf("status:\n%s", g.status())
		}
		return nil
	})
}
