package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestTLSModesMixedOnOnePort (TLSRouteModeMixed): TLS listeners in
// Terminate and Passthrough mode and HTTPS listeners on one port of one
// Gateway, told apart by SNI. term.test is terminated by the gateway and
// its plaintext reaches a TCP echo backend; pass.test reaches a TLS backend
// that presents its own certificate; web.test is HTTPS to an HTTP backend;
// any other name under *.test reaches the wildcard Passthrough listener's
// backend. The route-less Terminate listener idle.test is refused (no
// handshake), not passed through to the wildcard backend, and the
// route-less HTTPS listener idle-web.test answers with its own certificate
// and 404.
func TestTLSModesMixedOnOnePort(t *testing.T) {
	echo := startTCPBackend(t, "echo")
	secure := startTLSBackend(t, "secure", "pass.test")
	wild := startTLSBackend(t, "wild", "wild.test")
	blue := startHTTPBackend(t, "blue")
	port := freePort(t)
	var secrets string
	for _, host := range []string{"term.test", "web.test", "idle.test", "idle-web.test"} {
		_, crt, key := selfSigned(t, host)
		secrets += secretYAML("cert-"+host, crt, key)
	}
	cfg := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mixed
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: term
    protocol: TLS
    port: %[1]d
    hostname: term.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-term.test}]}
  - name: pass
    protocol: TLS
    port: %[1]d
    hostname: pass.test
    tls: {mode: Passthrough}
  - name: web
    protocol: HTTPS
    port: %[1]d
    hostname: web.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-web.test}]}
  - name: wild
    protocol: TLS
    port: %[1]d
    hostname: "*.test"
    tls: {mode: Passthrough}
  - name: idle
    protocol: TLS
    port: %[1]d
    hostname: idle.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-idle.test}]}
  - name: idle-web
    protocol: HTTPS
    port: %[1]d
    hostname: idle-web.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-idle-web.test}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: term
spec:
  parentRefs: [{name: mixed, sectionName: term}]
  hostnames: [term.test]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: echo, port: 7000}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
spec:
  hosts: [echo.internal]
  ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: %[2]d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: mixed, sectionName: web}]
  rules:
  - backendRefs:
`, port, echo.port) + seRef("blue", 1) + "---\n" + secrets +
		serviceEntryYAML("blue", blue.port) +
		tlsServiceEntryYAML("secure", secure.port) + tlsRouteYAML("pass", "mixed", "pass", "pass.test", "secure") +
		tlsServiceEntryYAML("wild", wild.port) + tlsRouteYAML("wild", "mixed", "wild", `"*.test"`, "wild")
	g := startGateway(t, map[string]string{"config.yaml": cfg})
	if failing := failingConditions(t, g.status()); len(failing) > 0 {
		t.Fatalf("every listener and route must be accepted and programmed with both TLS modes on one port:\n%v", failing)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// Terminate: the gateway's certificate, the plaintext at the TCP backend.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: "term.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("SNI term.test: %v", err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "term.test" {
		t.Errorf("SNI term.test: certificate %q, want the gateway's term.test (terminated)", cn)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "hello\n")
	if got, err := bufio.NewReader(conn).ReadString('\n'); err != nil || got != "echo: hello\n" {
		t.Errorf("SNI term.test: got %q, %v; want the echo backend's %q", got, err, "echo: hello\n")
	}
	conn.Close()

	// Passthrough: the backend's own certificate; HTTPS reaches it. The
	// wildcard listener's backend gets every other name under *.test.
	checkSNI(t, addr, "pass.test", "pass.test", "secure")
	checkSNI(t, addr, "other.test", "wild.test", "wild")
	// HTTPS on the same port.
	checkSNI(t, addr, "web.test", "web.test", "blue")

	// Listener isolation: idle.test belongs to the route-less Terminate
	// listener, so the wildcard Passthrough backend must not get it.
	if cn, err := peerCN(t, addr, "idle.test"); err == nil {
		t.Errorf("SNI idle.test (Terminate listener without routes): handshake succeeded with certificate %q, want the connection refused", cn)
	}
	// The route-less HTTPS listener answers itself: its certificate, 404.
	if cn, err := peerCN(t, addr, "idle-web.test"); err != nil || cn != "idle-web.test" {
		t.Errorf("SNI idle-web.test: certificate %q (%v), want the listener's own idle-web.test", cn, err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "idle-web.test", InsecureSkipVerify: true}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = "idle-web.test"
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("SNI idle-web.test: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Backend") != "" {
		t.Errorf("SNI idle-web.test: status %d backend %q, want 404 from the gateway", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
}
