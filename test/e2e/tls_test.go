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
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a certificate for host and its PEM encodings.
func selfSigned(t *testing.T, host string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

func secretYAML(name, certPEM, keyPEM string) string {
	indent := func(s string) string { return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") + "\n" }
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n%s  tls.key: |\n%s---\n", name, indent(certPEM), indent(keyPEM))
}

// peerCN dials addr with SNI and returns the CN of the certificate presented.
func peerCN(t *testing.T, addr, sni string) (string, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// checkSNI connects to addr with sni: the certificate presented must have
// CN wantCN, and an HTTPS request over it must reach wantBackend.
func checkSNI(t *testing.T, addr, sni, wantCN, wantBackend string) {
	t.Helper()
	cn, err := peerCN(t, addr, sni)
	if err != nil || cn != wantCN {
		t.Fatalf("SNI %s: certificate %q (%v), want %q", sni, cn, err, wantCN)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = sni
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("SNI %s: %v", sni, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != wantBackend {
		t.Errorf("SNI %s: status %d backend %q, want 200 %q", sni, resp.StatusCode, resp.Header.Get("X-Backend"), wantBackend)
	}
}

// tlsRouteYAML routes SNI host on gateway/section to the ServiceEntry se, port 443.
func tlsRouteYAML(name, gateway, section, host, se string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: %s
spec:
  parentRefs: [{name: %s, sectionName: %s}]
  hostnames: [%s]
  rules:
  - backendRefs:
    - {group: networking.istio.io, kind: ServiceEntry, name: %s, port: 443}
---
`, name, gateway, section, host, se)
}

func startTLSBackend(t *testing.T, name, host string) *backend {
	t.Helper()
	cert, _, _ := selfSigned(t, host)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s over TLS\n", name)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &backend{name: name, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

func TestHTTPSBySNIAndTLSPassthrough(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	green := startHTTPBackend(t, "green")
	secure := startTLSBackend(t, "secure", "secure.test")
	httpsPort := freePort(t)
	passPort := freePort(t)
	_, aCert, aKey := selfSigned(t, "a.test")
	_, bCert, bKey := selfSigned(t, "b.test")

	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: tls
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: a
    protocol: HTTPS
    port: %[1]d
    hostname: a.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-a}]}
  - name: b
    protocol: HTTPS
    port: %[1]d
    hostname: b.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-b}]}
  - name: pass
    protocol: TLS
    port: %[2]d
    hostname: secure.test
    tls: {mode: Passthrough}
    allowedRoutes: {kinds: [{kind: TLSRoute}]}
---
`, httpsPort, passPort) + secretYAML("cert-a", aCert, aKey) + secretYAML("cert-b", bCert, bKey) +
		serviceEntryYAML("blue", blue.port) + serviceEntryYAML("green", green.port) +
		tlsServiceEntryYAML("secure", secure.port) + tlsRouteYAML("secure", "tls", "pass", "secure.test", "secure") + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: a
spec:
  parentRefs: [{name: tls, sectionName: a}]
  rules:
  - backendRefs:
` + seRef("blue", 1) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: b
spec:
  parentRefs: [{name: tls, sectionName: b}]
  rules:
  - backendRefs:
` + seRef("green", 1)
	startGateway(t, map[string]string{"config.yaml": config})
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", httpsPort)

	checkSNI(t, httpsAddr, "a.test", "a.test", "blue")
	checkSNI(t, httpsAddr, "b.test", "b.test", "green")
	if _, err := peerCN(t, httpsAddr, "unknown.test"); err == nil {
		t.Errorf("a handshake for an SNI no listener declares must fail")
	}

	// Passthrough: the client sees the backend's own certificate, and the
	// backend terminates TLS.
	passAddr := fmt.Sprintf("127.0.0.1:%d", passPort)
	checkSNI(t, passAddr, "secure.test", "secure.test", "secure")
	if _, err := peerCN(t, passAddr, "other.test"); err == nil {
		t.Errorf("passthrough: an undeclared SNI must not be proxied")
	}
}

// startTCPBackend answers each read with "name: " + the bytes read.
func startTCPBackend(t *testing.T, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "%s: %s", name, line)
				}
			}()
		}
	}()
	return &backend{name: name, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

func TestTCPRouteWeights(t *testing.T) {
	one := startTCPBackend(t, "one")
	two := startTCPBackend(t, "two")
	port := freePort(t)
	seTCP := func(name string, p int) string { return staticServiceEntryYAML(name, 7000, "tcp", "TCP", p) }
	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: tcp
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: tcp
    protocol: TCP
    port: %d
    allowedRoutes: {kinds: [{kind: TCPRoute}]}
---
`, port) + seTCP("one", one.port) + seTCP("two", two.port) + `apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata:
  name: split
spec:
  parentRefs: [{name: tcp}]
  rules:
  - backendRefs:
    - {group: networking.istio.io, kind: ServiceEntry, name: one, port: 7000, weight: 75}
    - {group: networking.istio.io, kind: ServiceEntry, name: two, port: 7000, weight: 25}
`
	startGateway(t, map[string]string{"config.yaml": config})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	counts := map[string]int{}
	const n = 400
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "ping %d\n", i)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		name, rest, _ := strings.Cut(line, ": ")
		if rest != fmt.Sprintf("ping %d\n", i) {
			t.Fatalf("echo mismatch: %q", line)
		}
		counts[name]++
	}
	if share := float64(counts["one"]) / n; share < 0.67 || share > 0.83 {
		t.Errorf("share of one = %.2f, want 0.75±0.08 (counts %v)", share, counts)
	}
}

// TestHTTPSAndPassthroughShareAPort: an HTTPS (Terminate) listener and a TLS
// Passthrough listener on one port, told apart by SNI: a.test is terminated
// with the gateway's certificate, secure.test reaches the backend's.
func TestHTTPSAndPassthroughShareAPort(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	secure := startTLSBackend(t, "secure", "secure.test")
	port := freePort(t)
	_, aCert, aKey := selfSigned(t, "a.test")
	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shared
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: https
    protocol: HTTPS
    port: %[1]d
    hostname: a.test
    tls: {mode: Terminate, certificateRefs: [{name: cert-a}]}
  - name: pass
    protocol: TLS
    port: %[1]d
    hostname: secure.test
    tls: {mode: Passthrough}
    allowedRoutes: {kinds: [{kind: TLSRoute}]}
---
`, port) + secretYAML("cert-a", aCert, aKey) + serviceEntryYAML("blue", blue.port) +
		tlsServiceEntryYAML("secure", secure.port) + tlsRouteYAML("secure", "shared", "pass", "secure.test", "secure") + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: a
spec:
  parentRefs: [{name: shared, sectionName: https}]
  rules:
  - backendRefs:
` + seRef("blue", 1)
	startGateway(t, map[string]string{"config.yaml": config})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	checkSNI(t, addr, "a.test", "a.test", "blue")
	checkSNI(t, addr, "secure.test", "secure.test", "secure")
}
