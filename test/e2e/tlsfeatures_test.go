package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue signs a leaf for cn with the given DNS and URI SANs; client
// certificates get ClientAuth, others ServerAuth.
func (ca *testCA) issue(t *testing.T, cn string, client bool, dns []string, uris ...string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM, keyPEM
}

func caConfigMapYAML(name, caPEM string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  ca.crt: |\n    %s\n---\n", name, strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n    "))
}

// httpsGet does one GET over a fresh TLS connection with the given client
// certificate (nil: none) and returns the status or the error.
func httpsGet(addr, sni string, cert *tls.Certificate) (int, http.Header, error) {
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = sni
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, nil
}

// rawGet sends one request on an open connection and reads the status line.
func rawGet(t *testing.T, c net.Conn, r *bufio.Reader, host string) (int, error) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestFrontendClientCertificates: spec.tls.frontend default (AllowValidOnly)
// and a perPort AllowInsecureFallback override, then a CA rotation over SDS
// under a live connection.
func TestFrontendClientCertificates(t *testing.T) {
	app := startHTTPBackend(t, "app")
	strictPort, lenientPort := freePort(t), freePort(t)
	ca1, ca2, rogue := newCA(t, "ca-one"), newCA(t, "ca-two"), newCA(t, "rogue")
	_, srvCert, srvKey := selfSigned(t, "app.test")
	good1, _, _ := ca1.issue(t, "client-one", true, nil)
	good2, _, _ := ca2.issue(t, "client-two", true, nil)
	bad, _, _ := rogue.issue(t, "intruder", true, nil)

	gw := fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mtls
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
      perPort:
      - port: %[2]d
        tls:
          validation:
            mode: AllowInsecureFallback
            caCertificateRefs: [{group: "", kind: ConfigMap, name: client-ca}]
  listeners:
  - {name: strict, protocol: HTTPS, port: %[1]d, hostname: app.test, tls: {certificateRefs: [{name: app-cert}]}}
  - {name: lenient, protocol: HTTPS, port: %[2]d, hostname: app.test, tls: {certificateRefs: [{name: app-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs: [{name: mtls}]
  rules:
  - backendRefs:
%[3]s
---
`, strictPort, lenientPort, seRef("app", 1))
	g := startGateway(t, map[string]string{
		"gw.yaml": gatewayClassYAML + "---\n" + gw + secretYAML("app-cert", srvCert, srvKey) + serviceEntryYAML("app", app.port),
		"ca.yaml": caConfigMapYAML("client-ca", ca1.pem),
	})
	strict := fmt.Sprintf("127.0.0.1:%d", strictPort)
	lenient := fmt.Sprintf("127.0.0.1:%d", lenientPort)

	eventually(t, 10*time.Second, "valid client certificate accepted", func() error {
		code, _, err := httpsGet(strict, "app.test", &good1)
		if err != nil || code != 200 {
			return fmt.Errorf("code %d err %v", code, err)
		}
		return nil
	})
	if _, _, err := httpsGet(strict, "app.test", nil); err == nil {
		t.Errorf("AllowValidOnly: a client without a certificate was served")
	}
	if _, _, err := httpsGet(strict, "app.test", &bad); err == nil {
		t.Errorf("AllowValidOnly: a certificate from an untrusted CA was accepted")
	}
	for name, cert := range map[string]*tls.Certificate{"none": nil, "untrusted": &bad, "valid": &good1} {
		if code, _, err := httpsGet(lenient, "app.test", cert); err != nil || code != 200 {
			t.Errorf("AllowInsecureFallback with %s certificate: code %d, err %v; want 200", name, code, err)
		}
	}
	if st := g.status(); !strings.Contains(st, "InsecureFrontendValidationMode") {
		t.Errorf("Gateway status lacks InsecureFrontendValidationMode:\n%s", st)
	}

	// A live keep-alive connection authenticated with ca-one.
	live, err := tls.Dial("tcp", strict, &tls.Config{ServerName: "app.test", InsecureSkipVerify: true, Certificates: []tls.Certificate{good1}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	lr := bufio.NewReader(live)
	if code, err := rawGet(t, live, lr, "app.test"); err != nil || code != 200 {
		t.Fatalf("live connection: %d %v", code, err)
	}

	// Rotate the CA bundle: only the SDS secret changes.
	g.write("ca.yaml", caConfigMapYAML("client-ca", ca2.pem))
	eventually(t, 10*time.Second, "rotated CA in force for new connections", func() error {
		if code, _, err := httpsGet(strict, "app.test", &good2); err != nil || code != 200 {
			return fmt.Errorf("ca-two client: code %d err %v", code, err)
		}
		if _, _, err := httpsGet(strict, "app.test", &good1); err == nil {
			return fmt.Errorf("ca-one client still accepted")
		}
		return nil
	})
	// The listener was not closed: the connection accepted before the
	// rotation still serves requests.
	for i := range 3 {
		if code, err := rawGet(t, live, lr, "app.test"); err != nil || code != 200 {
			t.Fatalf("live connection after rotation, request %d: %d %v", i, code, err)
		}
	}
}

// startMTLSBackend is an HTTPS backend with a certificate from ca for
// host, requiring a client certificate from clientCA; it echoes the client
// certificate's CN and the SNI it was reached with.
func startMTLSBackend(t *testing.T, ca, clientCA *testCA, host string) *backend {
	t.Helper()
	cert, _, _ := ca.issue(t, host, false, []string{host}, "spiffe://test/backend")
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
		w.Header().Set("X-SNI", r.TLS.ServerName)
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintln(w, "secure")
	}), ErrorLog: nil}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &backend{name: host, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

// tlsServiceEntryYAML is a ServiceEntry whose port 443 (TLS) is
// 127.0.0.1:port.
func tlsServiceEntryYAML(name string, port int) string {
	return staticServiceEntryYAML(name, 443, "https", "TLS", port)
}

func backendTLSPolicyYAML(name, target, hostname, sans string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: %s
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: %s}]
  validation:
    hostname: %s
    caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}]
%s---
`, name, target, hostname, sans)
}

// TestBackendTLSPolicy: TLS to backends verified by a CA bundle and the
// hostname (or subjectAltNames), with the Gateway's client certificate;
// for a GRPCRoute's Service backend too (its HTTP/2 twin cluster: HTTP/2
// over TLS).
func TestBackendTLSPolicy(t *testing.T) {
	backendCA, gwCA := newCA(t, "backend-ca"), newCA(t, "gateway-client-ca")
	secure := startMTLSBackend(t, backendCA, gwCA, "secure.internal")
	_, clientPEM, clientKey := gwCA.issue(t, "edgeway-gateway", true, nil)
	port, grpcPort := freePort(t), freePort(t)
	route := func(path, se string) string {
		return fmt.Sprintf(`  - matches: [{path: {type: PathPrefix, value: %s}}]
    backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: %s, port: 443}]
`, path, se)
	}
	cfg := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  tls:
    backend:
      clientCertificateRef: {name: gateway-client}
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - {name: grpc, protocol: HTTP, port: %d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: rpc
spec:
  parentRefs: [{name: gw, sectionName: grpc}]
  rules:
  - backendRefs: [{name: secure-svc, port: 443}]
---
apiVersion: v1
kind: Service
metadata:
  name: secure-svc
spec:
  ports: [{name: https, port: 443, targetPort: %d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: secure-svc
  labels: {kubernetes.io/service-name: secure-svc}
addressType: IPv4
ports: [{name: https, port: %d}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: secure-svc
spec:
  targetRefs: [{group: "", kind: Service, name: secure-svc}]
  validation:
    hostname: secure.internal
    caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules:
`, port, grpcPort, secure.port, secure.port) + route("/ok", "secure") + route("/san", "by-san") + route("/wrong-name", "wrong-name") + "---\n" +
		tlsServiceEntryYAML("secure", secure.port) + tlsServiceEntryYAML("by-san", secure.port) + tlsServiceEntryYAML("wrong-name", secure.port) +
		backendTLSPolicyYAML("secure", "secure", "secure.internal", "") +
		backendTLSPolicyYAML("by-san", "by-san", "secure.internal", "    subjectAltNames: [{type: URI, uri: \"spiffe://test/backend\"}]\n") +
		backendTLSPolicyYAML("wrong-name", "wrong-name", "other.internal", "") +
		caConfigMapYAML("backend-ca", backendCA.pem) + secretYAML("gateway-client", clientPEM, clientKey)
	g := startGateway(t, map[string]string{"all.yaml": cfg})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, path := range []string{"/ok", "/san"} {
		res, err := do(t, c, "GET", base+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.status != 200 || res.header.Get("X-Client-CN") != "edgeway-gateway" || res.header.Get("X-SNI") != "secure.internal" {
			t.Errorf("%s: status %d, client CN %q, SNI %q; want 200 from the backend with the gateway's certificate and SNI secure.internal", path, res.status, res.header.Get("X-Client-CN"), res.header.Get("X-SNI"))
		}
	}
	// A gRPC call: the GRPCRoute's backend is a Service port whose policy
	// applies to the HTTP/2 twin of its cluster (it once went in plain text).
	req, err := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/pkg.Echo/Call", grpcPort), strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Client-CN") != "edgeway-gateway" || resp.Header.Get("X-SNI") != "secure.internal" || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Errorf("gRPC: status %d, client CN %q, SNI %q, upstream %q; want 200 over HTTP/2 and TLS with the gateway's certificate and SNI secure.internal",
			resp.StatusCode, resp.Header.Get("X-Client-CN"), resp.Header.Get("X-SNI"), resp.Header.Get("X-Proto"))
	}
	// The backend's certificate does not name other.internal: never served.
	res, err := do(t, c, "GET", base+"/wrong-name", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.status < 500 || res.header.Get("X-Client-CN") != "" {
		t.Errorf("/wrong-name: status %d (client CN %q); want a 5xx without reaching the backend", res.status, res.header.Get("X-Client-CN"))
	}
	st := g.status()
	if !strings.Contains(st, "kind: BackendTLSPolicy") {
		t.Errorf("status has no BackendTLSPolicy entries:\n%s", st)
	}
	if bad := failingConditions(t, st); len(bad) > 0 {
		t.Errorf("unexpected failing conditions: %v", bad)
	}
}

// TestTLSTerminateTLSRoute: a TLS listener in Terminate mode proxies the
// decrypted stream of a TLSRoute to a plain TCP backend.
func TestTLSTerminateTLSRoute(t *testing.T) {
	echo := startTCPBackend(t, "echo")
	port := freePort(t)
	_, crt, key := selfSigned(t, "db.test")
	cfg := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: tls
    protocol: TLS
    port: %d
    hostname: db.test
    tls: {mode: Terminate, certificateRefs: [{name: db-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: db
spec:
  parentRefs: [{name: gw}]
  hostnames: [db.test]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: echo, port: 7000}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
spec:
  hosts: [echo.internal]
  ports: [{number: 7000, name: tcp, protocol: TCP, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
`, port, echo.port) + secretYAML("db-cert", crt, key)
	startGateway(t, map[string]string{"all.yaml": cfg})
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: "db.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "db.test" {
		t.Errorf("certificate CN %q, want db.test (terminated by the gateway)", cn)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for _, line := range []string{"hello\n", "again\n"} {
		fmt.Fprint(conn, line)
		got, err := r.ReadString('\n')
		if err != nil || got != "echo: "+line {
			t.Fatalf("got %q, %v; want %q", got, err, "echo: "+line)
		}
	}
}

// startUDPBackend answers every datagram with "name:" + the datagram.
func startUDPBackend(t *testing.T, name string) *backend {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return &backend{name: name, addr: pc.LocalAddr().String(), port: pc.LocalAddr().(*net.UDPAddr).Port}
}

// dnsServiceEntryYAML is a ServiceEntry <name>.internal whose port 53
// (protocol proto: UDP or TCP) is 127.0.0.1:port, followed by "---".
func dnsServiceEntryYAML(name, proto string, port int) string {
	return staticServiceEntryYAML(name, 53, "dns", proto, port)
}

// udpExchange sends payload on c and returns the reply.
func udpExchange(c net.Conn, payload string) (string, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(payload)); err != nil {
		return "", err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// TestUDPRouteWeighted: a weighted UDPRoute (3:1) by session, beside a TCP
// listener on the same port number.
func TestUDPRouteWeighted(t *testing.T) {
	heavy, light := startUDPBackend(t, "heavy"), startUDPBackend(t, "light")
	echo := startTCPBackend(t, "tcp")
	port := freePort(t)
	cfg := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: udp, protocol: UDP, port: %[1]d}
  - {name: tcp, protocol: TCP, port: %[1]d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata:
  name: dns
spec:
  parentRefs: [{name: gw, sectionName: udp}]
  rules:
  - backendRefs:
    - {group: networking.istio.io, kind: ServiceEntry, name: heavy, port: 53, weight: 3}
    - {group: networking.istio.io, kind: ServiceEntry, name: light, port: 53, weight: 1}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata:
  name: dns-tcp
spec:
  parentRefs: [{name: gw, sectionName: tcp}]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: tcp, port: 53}]
---
`, port) + dnsServiceEntryYAML("heavy", "UDP", heavy.port) + dnsServiceEntryYAML("light", "UDP", light.port) + dnsServiceEntryYAML("tcp", "TCP", echo.port)
	g := startGateway(t, map[string]string{"all.yaml": cfg})
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	counts := map[string]int{}
	for i := range 40 {
		c, err := net.Dial("udp", addr) // a new source port: a new session
		if err != nil {
			t.Fatal(err)
		}
		first, err := udpExchange(c, fmt.Sprintf("q%d", i))
		if err != nil {
			c.Close()
			t.Fatalf("session %d: %v", i, err)
		}
		who, _, _ := strings.Cut(first, ":")
		counts[who]++
		// Every datagram of a session goes to the same backend.
		for j := range 2 {
			again, err := udpExchange(c, fmt.Sprintf("q%d.%d", i, j))
			if err != nil || !strings.HasPrefix(again, who+":") {
				t.Errorf("session %d datagram %d: %q, %v; want it from %s", i, j, again, err, who)
			}
		}
		c.Close()
	}
	if counts["heavy"] <= counts["light"] || counts["light"] == 0 || counts["heavy"]+counts["light"] != 40 {
		t.Errorf("sessions per backend %v; want both used, heavy (weight 3) more than light (weight 1)", counts)
	}

	// TCP on the same port number is its own socket.
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(tc, "over tcp\n")
	if got, err := bufio.NewReader(tc).ReadString('\n'); err != nil || got != "tcp: over tcp\n" {
		t.Errorf("TCP beside UDP: %q, %v", got, err)
	}
	if bad := failingConditions(t, g.status()); len(bad) > 0 {
		t.Errorf("unexpected failing conditions: %v", bad)
	}
}
