package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startOriginBackend is an HTTPS server with a certificate from ca for
// host; it answers with the SNI it was reached with.
func startOriginBackend(t *testing.T, ca *testCA, name, host string) *backend {
	t.Helper()
	cert, _, _ := ca.issue(t, host, false, []string{host})
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-SNI", r.TLS.ServerName)
		fmt.Fprintf(w, "%s over TLS\n", name)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &backend{name: name, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

// TestEgressGateway: a Gateway whose EdgewayConfig sets spec.egress lets
// through exactly the hosts its visible ServiceEntries declare: HTTP by Host
// (api.external.test), TLS passthrough by SNI (secure.external.test), plain
// HTTP upgraded to TLS by a BackendTLSPolicy naming a test CA
// (origin.external.test, resolved by DNS: its endpoint is "localhost"). An
// undeclared host, and one whose ServiceEntry is exported nowhere, get 403;
// an undeclared SNI gets no handshake. Each refusal is logged with the host
// and counted in edgeway_proxy_refusals_total.
func TestEgressGateway(t *testing.T) {
	ca := newCA(t, "external-ca")
	api := startHTTPBackend(t, "api")
	secure := startTLSBackend(t, "secure", "secure.external.test")
	origin := startOriginBackend(t, ca, "origin", "origin.external.test")
	httpPort, tlsPort := freePort(t), freePort(t)
	config := gatewayClassYAML + "---\n" + caConfigMapYAML("external-ca", ca.pem) + fmt.Sprintf(`apiVersion: gateway.edgeway.dev/v1alpha1
kind: EdgewayConfig
metadata:
  name: egress
spec:
  egress: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: egress
spec:
  gatewayClassName: edgeway
  infrastructure:
    parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, name: egress}
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %[1]d}
  - name: tls
    protocol: TLS
    port: %[2]d
    tls: {mode: Passthrough}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
spec:
  hosts: [api.external.test]
  ports: [{number: %[1]d, name: http, protocol: HTTP, targetPort: %[3]d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: secure
spec:
  hosts: [secure.external.test]
  ports: [{number: %[2]d, name: tls, protocol: TLS, targetPort: %[4]d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: origin
spec:
  hosts: [origin.external.test]
  ports: [{number: %[1]d, name: http, protocol: HTTP, targetPort: %[5]d}]
  resolution: DNS
  endpoints: [{address: localhost}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: origin-tls
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: origin}]
  validation:
    hostname: origin.external.test
    caCertificateRefs: [{group: "", kind: ConfigMap, name: external-ca}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: hidden
spec:
  hosts: [hidden.external.test]
  exportTo: ["~"]
  ports: [{number: %[1]d, name: http, protocol: HTTP, targetPort: %[3]d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`, httpPort, tlsPort, api.port, secure.port, origin.port)
	g := startGateway(t, map[string]string{"config.yaml": config})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)

	// Declared over HTTP, and over HTTP upgraded to verified TLS with SNI.
	g.expectServed(c, base+"/", "api.external.test", 200, "api")
	g.expectServed(c, base+"/", "origin.external.test", 200, "origin")
	res, err := do(t, c, "GET", base+"/", "origin.external.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sni := res.header.Get("X-SNI"); sni != "origin.external.test" {
		t.Errorf("TLS origination sent SNI %q, want origin.external.test", sni)
	}
	// Declared over TLS passthrough: the backend's own certificate.
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	eventually(t, 10*time.Second, "passthrough to secure.external.test", func() error {
		status, h, err := httpsGet(tlsAddr, "secure.external.test", nil)
		if err != nil {
			return err
		}
		if status != 200 || h.Get("X-Backend") != "secure" {
			return fmt.Errorf("status %d from %q", status, h.Get("X-Backend"))
		}
		return nil
	})

	// Refused: an undeclared host, and a host whose ServiceEntry is
	// exported to no namespace.
	for _, host := range []string{"evil.test", "hidden.external.test"} {
		res, err := do(t, c, "GET", base+"/", host, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.status != 403 || !strings.Contains(res.body, "not declared by any ServiceEntry visible to namespace default") {
			t.Errorf("%s: %d %q, want 403 saying the host is not declared", host, res.status, res.body)
		}
	}
	// Refused: an undeclared SNI never gets a handshake.
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "evil.test", InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("TLS handshake with an undeclared SNI succeeded")
	}

	// Each refusal is counted (the host is no label) and logged with it.
	metrics := func() string {
		resp, err := http.Get("http://" + g.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, want := range []string{
		fmt.Sprintf(`edgeway_proxy_refusals_total{listener="127.0.0.1:%d",name="egress/refused",protocol="http"} 2`, httpPort),
		fmt.Sprintf(`edgeway_proxy_refusals_total{listener="127.0.0.1:%d",name="refuse/*",protocol="tls"} 1`, tlsPort),
	} {
		if m := metrics(); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "refusals"))
		}
	}
	logs := g.logs.String()
	for _, want := range []string{
		`msg="request refused by its route"`, `host=evil.test`, `host=hidden.external.test`,
		`msg="connection refused by its filter chain"`, `sni=evil.test`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s", want)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
