package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/test/meshpeer"
)

// meshFiles is a standalone configuration with a GatewayClass whose
// EdgewayConfig gives its Gateways an Istio identity from the cacerts
// Secret (workload certificates valid for validity), the default namespace
// labelled for sidecar injection (its Services are in the mesh), and
// routes to mesh-like backends: HTTP/1.1, HTTP/2 (h2c appProtocol) and TCP,
// one Service pinned by Istio's serviceaccounts annotation to an identity
// its backend does not have, one Service opted out (plain text), and a
// second Gateway without mesh identity routing to a mesh Service.
func meshFiles(cacerts map[string][]byte, validity string, httpPort, tcpPort, plainPort int, reviews, ratings, db, impostor *meshpeer.Peer, plain *backend) map[string]string {
	var sec strings.Builder
	for _, k := range []string{mesh.KeyCACert, mesh.KeyCAKey, mesh.KeyRootCert, mesh.KeyCertChain} {
		fmt.Fprintf(&sec, "  %s: |\n%s", k, indent(strings.TrimRight(string(cacerts[k]), "\n"), "    ")+"\n")
	}
	config := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
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
    workloadCertificateValidity: %s
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
  - {name: db, protocol: TCP, port: %d, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
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
metadata: {name: shop}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /reviews}}]
    backendRefs: [{name: reviews, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /ratings}}]
    backendRefs: [{name: ratings, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /pinned}}]
    backendRefs: [{name: pinned, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: plain, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: nomesh}
spec:
  parentRefs: [{name: nomesh}]
  rules:
  - backendRefs: [{name: reviews, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: db}
spec:
  parentRefs: [{name: gw, sectionName: db}]
  rules:
  - backendRefs: [{name: db, port: 80}]
---
`, sec.String(), validity, httpPort, tcpPort, plainPort)
	pinned := strings.Replace(serviceYAML("pinned", "", impostor.Port), "  name: pinned\n", "  name: pinned\n  annotations: {alpha.istio.io/kubernetes-serviceaccounts: reviews}\n", 1)
	optedOut := strings.Replace(serviceYAML("plain", "", plain.port), "  name: plain\n", "  name: plain\n  labels: {security.istio.io/tlsMode: disabled}\n", 1)
	return map[string]string{
		"config.yaml":   config,
		"services.yaml": serviceYAML("reviews", "", reviews.Port) + serviceYAML("ratings", "kubernetes.io/h2c", ratings.Port) + serviceYAML("db", "", db.Port) + pinned + optedOut,
	}
}

func startPeer(t *testing.T, cacerts map[string][]byte, name, sa string) *meshpeer.Peer {
	t.Helper()
	p, err := meshpeer.Start(meshpeer.Options{Name: name, CACerts: cacerts, TrustDomain: "cluster.local", Namespace: "default", ServiceAccount: sa})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestMeshMTLS: the gateway reaches mesh-like backends (STRICT sidecar
// behaviour, test/meshpeer) over Istio mTLS: its own SPIFFE identity
// (spiffe://cluster.local/ns/default/sa/gw-edgeway, the ServiceAccount
// edgeway provisions for Gateway gw), the outbound_ SNI, Istio's ALPN for
// HTTP/1.1, HTTP/2 and TCP; it refuses a backend whose identity is not the
// one the Service names; a client without a mesh certificate is refused by
// the backend; a Gateway without mesh identity reports the route; and the
// workload certificate is renewed (15 s validity) with every request
// served meanwhile.
func TestMeshMTLS(t *testing.T) {
	cacerts, err := mesh.GenerateCACerts("edgeway e2e mesh", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reviews := startPeer(t, cacerts, "reviews", "reviews")
	ratings := startPeer(t, cacerts, "ratings", "ratings")
	db := startPeer(t, cacerts, "db", "db")
	impostor := startPeer(t, cacerts, "impostor", "impostor")
	plain := startHTTPBackend(t, "plain")
	httpPort, tcpPort, plainPort := freePort(t), freePort(t), freePort(t)
	g := startGateway(t, meshFiles(cacerts, "15s", httpPort, tcpPort, plainPort, reviews, ratings, db, impostor, plain))
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	const gatewayID = "spiffe://cluster.local/ns/default/sa/gw-edgeway"

	t.Run("http1", func(t *testing.T) {
		g.expectServed(c, base+"/reviews", "shop.example", 200, "reviews")
		res, err := do(t, c, "GET", base+"/reviews", "shop.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"X-Peer-Identity": gatewayID, "X-Peer-SNI": "outbound_.80_._.reviews.default.svc.cluster.local",
			"X-Peer-ALPN": "istio-http/1.1,istio", "X-Peer-Proto": "HTTP/1.1"}
		for k, v := range want {
			if got := res.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})
	t.Run("http2", func(t *testing.T) {
		g.expectServed(c, base+"/ratings", "shop.example", 200, "ratings")
		res, err := do(t, c, "GET", base+"/ratings", "shop.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.header.Get("X-Peer-ALPN") != "istio-h2,istio" || res.header.Get("X-Peer-Proto") != "HTTP/2.0" || res.header.Get("X-Peer-Identity") != gatewayID {
			t.Errorf("headers %v", res.header)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		var line string
		eventually(t, 10*time.Second, "TCP route to the mesh backend", func() error {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), 5*time.Second)
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, err := conn.Read(buf)
			if err != nil {
				return err
			}
			line = string(buf[:n])
			return nil
		})
		for _, want := range []string{"db identity=" + gatewayID, "sni=outbound_.80_._.db.default.svc.cluster.local", "alpn=istio-peer-exchange,istio"} {
			if !strings.Contains(line, want) {
				t.Errorf("TCP backend saw %q, want %q", line, want)
			}
		}
	})
	t.Run("backend identity verified", func(t *testing.T) {
		// Service pinned reaches a workload running as "impostor", not
		// the "reviews" its annotation names: the gateway refuses it.
		res, err := do(t, c, "GET", base+"/pinned", "shop.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.status != http.StatusBadGateway || res.backend != "" {
			t.Errorf("got %d from %q, want 502 from the gateway", res.status, res.backend)
		}
		// It did reach the impostor, and aborted the handshake there.
		eventually(t, 5*time.Second, "the impostor's failed handshake", func() error {
			if len(impostor.Refused()) == 0 || len(impostor.Accepted()) != 0 {
				return fmt.Errorf("impostor: refused %v, accepted %v", impostor.Refused(), impostor.Accepted())
			}
			return nil
		})
	})
	t.Run("opted out is plain", func(t *testing.T) {
		g.expectServed(c, base+"/plain", "shop.example", 200, "plain")
	})
	t.Run("client without mesh certificate refused", func(t *testing.T) {
		before := len(reviews.Refused())
		conn, err := tls.Dial("tcp", reviews.Addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"istio-http/1.1", "istio"}})
		if err == nil {
			_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: reviews\r\n\r\n"))
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, rerr := io.ReadAll(conn)
			conn.Close()
			if rerr == nil && len(b) > 0 {
				t.Fatalf("a client without certificate was answered: %q", b)
			}
		}
		eventually(t, 5*time.Second, "the backend's refusal", func() error {
			for _, r := range reviews.Refused()[before:] {
				if strings.Contains(r, "client didn't provide a certificate") {
					return nil
				}
			}
			return fmt.Errorf("refusals: %v", reviews.Refused())
		})
	})
	t.Run("gateway without mesh identity", func(t *testing.T) {
		// The status is YAML: long messages are folded over lines.
		for _, want := range []string{"reason: MeshIdentityNotConfigured",
			"Service default/reviews is in the Istio mesh (namespace default has istio-injection=enabled) but Gateway default/nomesh has no mesh identity: set spec.mesh.caSecretRef",
			"workload certificate " + gatewayID + " issued by the mesh CA of Secret default/cacerts"} {
			eventually(t, 10*time.Second, "status mentioning "+want, func() error {
				if st := strings.Join(strings.Fields(g.status()), " "); !strings.Contains(st, want) {
					return fmt.Errorf("status lacks %q:\n%s", want, g.status())
				}
				return nil
			})
		}
	})
	t.Run("rotation", func(t *testing.T) {
		// 15 s certificates are renewed every 10 s: keep requesting until
		// the backend has seen three certificates, every request served.
		serials := map[string]bool{}
		deadline := time.Now().Add(60 * time.Second)
		requests := 0
		for len(serials) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("saw %d workload certificates in 60 s (%d requests), want 3", len(serials), requests)
			}
			res, err := do(t, c, "GET", base+"/reviews", "shop.example", nil)
			requests++
			if err != nil {
				t.Fatalf("request %d during rotation: %v", requests, err)
			}
			if res.status != 200 || res.backend != "reviews" || res.header.Get("X-Peer-Identity") != gatewayID {
				t.Fatalf("request %d during rotation: %d from %q (%s)", requests, res.status, res.backend, res.body)
			}
			serials[res.header.Get("X-Peer-Serial")] = true
			time.Sleep(20 * time.Millisecond)
		}
		seen := make([]string, 0, len(serials))
		for s := range serials {
			seen = append(seen, s)
		}
		sort.Strings(seen)
		t.Logf("%d requests, all served, over workload certificates %v", requests, seen)
	})
}
