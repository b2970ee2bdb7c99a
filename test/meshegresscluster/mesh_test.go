package meshegresscluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// The mesh scenario's names. The Gateway's identity is the ServiceAccount
// edgeway provisions for it: spiffe://cluster.local/ns/ingress/sa/gw-edgeway.
const (
	meshGatewayNS  = "ingress"
	meshNS         = "mesh" // labelled istio-injection=enabled
	meshHost       = "reviews.mesh.test"
	meshGatewayID  = "spiffe://cluster.local/ns/ingress/sa/gw-edgeway"
	meshBackendID  = "spiffe://cluster.local/ns/mesh/sa/reviews"
	meshBackendSNI = "outbound_.9080_._.reviews.mesh.svc.cluster.local"
)

type meshScenario struct {
	cacerts map[string][]byte
}

// setUpMesh creates Istio's cacerts Secret (a mesh root made here), an
// EdgewayConfig with spec.mesh naming it, a Gateway using that config, and
// in namespace mesh (in the mesh by istio-injection=enabled) the meshpeer
// backend running as ServiceAccount reviews with its Service (pinned to
// that identity by Istio's serviceaccounts annotation) and an HTTPRoute.
func setUpMesh(t *testing.T, e *env) *meshScenario {
	cacerts, err := mesh.GenerateCACerts("meshegresscluster mesh", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: ingress}
---
apiVersion: v1
kind: Namespace
metadata: {name: mesh, labels: {istio-injection: enabled}}
`)
	e.secret(t, "istio-system", "cacerts", corev1.SecretTypeOpaque, cacerts)
	// The backend issues its own workload certificate from the same CA
	// (as istiod would for its sidecar).
	e.secret(t, meshNS, "meshpeer-cacerts", corev1.SecretTypeOpaque, cacerts)
	e.apply(t, `apiVersion: gateway.edgeway.dev/v1alpha1
kind: EdgewayConfig
metadata: {name: mesh, namespace: ingress}
spec:
  mesh:
    trustDomain: cluster.local
    caSecretRef: {namespace: istio-system, name: cacerts}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ingress}
spec:
  gatewayClassName: edgeway
  infrastructure:
    parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, name: mesh}
  listeners:
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reviews, namespace: mesh}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews}}
    spec:
      serviceAccountName: reviews
      containers:
      - name: meshpeer
        image: `+meshpeerImage+`
        args: [--cacerts, /etc/cacerts, --listen, "0.0.0.0:9080", --namespace, mesh, --service-account, reviews, --name, reviews]
        ports: [{containerPort: 9080}]
        readinessProbe: {tcpSocket: {port: 9080}, periodSeconds: 1}
        volumeMounts: [{name: cacerts, mountPath: /etc/cacerts, readOnly: true}]
      volumes: [{name: cacerts, secret: {secretName: meshpeer-cacerts}}]
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: mesh
  annotations: {alpha.istio.io/kubernetes-serviceaccounts: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: mesh}
spec:
  parentRefs: [{name: gw, namespace: ingress}]
  hostnames: [`+meshHost+`]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)
	return &meshScenario{cacerts: cacerts}
}

func (m *meshScenario) check(t *testing.T, e *env) {
	lb := e.gatewayAddress(t, meshGatewayNS, "gw")
	backend := net.JoinHostPort(e.readyPodIP(t, meshNS, "app=reviews"), "9080")
	t.Logf("mesh Gateway at %s, meshpeer backend at %s", lb, backend)

	t.Run("the Gateway reports its mesh identity", func(t *testing.T) {
		eventually(t, time.Minute, "Gateway ingress/gw "+gatewayapi.ConditionMeshIdentityReady+"=True", func() error {
			g := &gwv1.Gateway{}
			if err := e.gw.Get(context.Background(), client.ObjectKey{Namespace: meshGatewayNS, Name: "gw"}, g); err != nil {
				return err
			}
			c := meta.FindStatusCondition(g.Status.Conditions, gatewayapi.ConditionMeshIdentityReady)
			if c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("condition %+v", c)
			}
			if !strings.Contains(c.Message, meshGatewayID) {
				t.Errorf("%s message %q does not name the identity %s", c.Type, c.Message, meshGatewayID)
			}
			return nil
		})
	})

	t.Run("gateway reaches the STRICT backend over Istio mTLS", func(t *testing.T) {
		url := "http://" + net.JoinHostPort(lb, "80") + "/reviews"
		var res *response
		eventually(t, 3*time.Minute, "a request through the mesh Gateway answered by the mesh backend", func() error {
			var err error
			if res, err = get(url, meshHost); err != nil {
				return err
			}
			if res.status != http.StatusOK || res.header.Get("X-Backend") != "reviews" {
				return fmt.Errorf("%d from %q: %s", res.status, res.header.Get("X-Backend"), res.body)
			}
			return nil
		})
		want := map[string]string{
			"X-Peer-Identity": meshGatewayID,          // the gateway's workload certificate, from the mesh CA
			"X-Peer-ALPN":     "istio-http/1.1,istio", // what a STRICT inbound listener selects its HTTP chain by
			"X-Peer-SNI":      meshBackendSNI,
			"X-Peer-Proto":    "HTTP/1.1",
		}
		for k, v := range want {
			if got := res.header.Get(k); got != v {
				t.Errorf("the backend saw %s %q, want %q", k, got, v)
			}
		}
	})

	// Straight to the backend Pod, bypassing the gateway.
	dial := func(cfg *tls.Config) (string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", backend, cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET /direct HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n"); err != nil {
			return "", err
		}
		b, err := io.ReadAll(conn)
		return string(b), err
	}
	backendRoots := x509.NewCertPool()
	backendRoots.AppendCertsFromPEM(m.cacerts[mesh.KeyRootCert])
	istioALPN := []string{"istio-http/1.1", "istio"}

	t.Run("a client with a mesh certificate is served (control)", func(t *testing.T) {
		cert := workloadCert(t, m.cacerts, "ingress", "probe")
		got, err := dial(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: istioALPN, ServerName: meshBackendSNI,
			InsecureSkipVerify: true, VerifyConnection: verifyMeshServer(backendRoots, meshBackendID)})
		if err != nil || !strings.Contains(got, "200 OK") {
			t.Fatalf("a mesh client straight to the backend: %v %q", err, got)
		}
	})
	t.Run("a client without a mesh certificate is refused", func(t *testing.T) {
		got, err := dial(&tls.Config{InsecureSkipVerify: true, NextProtos: istioALPN})
		if err == nil || got != "" || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("a client without certificate got %q (error %v), want the handshake refused with alert certificate_required", got, err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("a client with a certificate of another mesh is refused", func(t *testing.T) {
		other, err := mesh.GenerateCACerts("another mesh", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert := workloadCert(t, other, "ingress", "gw-edgeway") // the gateway's identity, from the wrong root
		// GetClientCertificate sends it although it matches none of the
		// CAs the server asks for (Certificates would send nothing).
		got, err := dial(&tls.Config{InsecureSkipVerify: true, NextProtos: istioALPN,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		if err == nil || got != "" || !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Fatalf("a client of another mesh got %q (error %v), want the handshake refused with alert unknown_ca", got, err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("a client without Istio ALPN is refused", func(t *testing.T) {
		cert := workloadCert(t, m.cacerts, "ingress", "probe")
		got, err := dial(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, ServerName: meshBackendSNI,
			InsecureSkipVerify: true, VerifyConnection: verifyMeshServer(backendRoots, meshBackendID)})
		if err == nil || got != "" {
			t.Fatalf("a client offering http/1.1 got %q (error %v), want the handshake refused", got, err)
		}
		t.Logf("refused: %v", err)
	})
}

// workloadCert is a workload certificate of the given mesh CA for
// spiffe://cluster.local/ns/<ns>/sa/<sa>.
func workloadCert(t *testing.T, cacerts map[string][]byte, ns, sa string) tls.Certificate {
	t.Helper()
	ca, err := mesh.ParseCACerts(cacerts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ca.Issue(mesh.SPIFFEID("cluster.local", ns, sa), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(w.ChainPEM, w.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verifyMeshServer verifies the server as an Istio client does: its chain
// against the mesh root and its SPIFFE ID instead of a host name (the SNI
// is no DNS name of the certificate, so crypto/tls's own verification,
// which checks one, is replaced by this).
func verifyMeshServer(roots *x509.CertPool, id string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("the backend's certificate: %w", err)
		}
		for _, u := range leaf.URIs {
			if u.String() == id {
				return nil
			}
		}
		return fmt.Errorf("the backend's certificate has URIs %v, want %s", leaf.URIs, id)
	}
}
