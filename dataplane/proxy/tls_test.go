package proxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// tlsFixture: one port with two terminating chains (exact and wildcard
// names, each with its own certificate) and a passthrough chain whose
// backend serves its own certificate.
type tlsFixture struct {
	p        *Proxy
	addr     string
	passthru *httptest.Server
	res      *config.Resources
}

func newTLSFixture(t *testing.T, setup ...func(*Proxy)) *tlsFixture {
	t.Helper()
	a, b := startBackend(t, "a"), startBackend(t, "b")
	passthru := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "passthrough backend")
	}))
	t.Cleanup(passthru.Close)

	p := newProxy(t)
	for _, f := range setup {
		f(p)
	}
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	addCluster(res, "b", backendAddr(b))
	addCluster(res, "pass", backendAddr(passthru))
	res.Routes["rc-a"] = routeConfig("rc-a", vhost("a", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	res.Routes["rc-b"] = routeConfig("rc-b", vhost("b", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	certA, keyA := selfSigned(t, "a.example.com")
	certB, keyB := selfSigned(t, "*.b.example.com")
	res.Secrets["cert-a"] = secret("cert-a", certA, keyA)
	res.Secrets["cert-b"] = secret("cert-b", certB, keyB)
	res.Listeners["tls"] = listener(t, "tls", 0, true,
		chain("https-a", []string{"a.example.com"}, tlsSocket(t, "cert-a"), hcmFilter(t, hcm(t, "rc-a"))),
		chain("https-b", []string{"*.b.example.com"}, tlsSocket(t, "cert-b"), hcmFilter(t, hcm(t, "rc-b"))),
		// Exact beats wildcard even across chain kinds: this name under
		// the HTTPS wildcard is passed through.
		chain("pass", []string{"pass.example.com", "raw.b.example.com"}, nil, tcpFilter(t, map[string]uint32{"pass": 1})),
	)
	applyAll(t, p, res)
	return &tlsFixture{p: p, addr: p.ListenerAddr("tls").String(), passthru: passthru, res: res}
}

func httpsGet(t *testing.T, addr, sni string) (string, *tls.ConnectionState) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}},
	}}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET via sni %q: %v", sni, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.TLS
}

func TestHTTPSBySNI(t *testing.T) {
	f := newTLSFixture(t)
	if got := peerCertName(t, f.addr, "a.example.com"); got != "a.example.com" {
		t.Errorf("sni a.example.com: served %q", got)
	}
	if got := peerCertName(t, f.addr, "x.b.example.com"); got != "*.b.example.com" {
		t.Errorf("sni x.b.example.com: served %q", got)
	}
	body, st := httpsGet(t, f.addr, "A.EXAMPLE.COM")
	if st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("ALPN %q", st.NegotiatedProtocol)
	}
	e := parseEcho(body)
	if e.Backend != "a" || e.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("a.example.com reached %+v", e)
	}
	body, _ = httpsGet(t, f.addr, "deep.x.b.example.com")
	e = parseEcho(body)
	if e.Backend != "b" {
		t.Errorf("deep.x.b.example.com reached %q", e.Backend)
	}
	// No chain for this name and no default chain: the connection closes.
	if _, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true}); err == nil {
		t.Errorf("handshake with an unmatched SNI succeeded")
	}
}

func TestTLSPassthrough(t *testing.T) {
	f := newTLSFixture(t)
	for _, sni := range []string{"pass.example.com", "raw.b.example.com"} {
		c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("sni %s: %v", sni, err)
		}
		if !c.ConnectionState().PeerCertificates[0].Equal(f.passthru.Certificate()) {
			t.Errorf("sni %s: not the backend's own certificate", sni)
		}
		c.Close()
		body, _ := httpsGet(t, f.addr, sni)
		if body != "passthrough backend" {
			t.Errorf("sni %s: body %q", sni, body)
		}
	}
}

func TestCertificateRotationWithoutRebind(t *testing.T) {
	f := newTLSFixture(t)
	before := f.p.sockets[socketKey(f.p.state.Load().cfg.Listeners["tls"])]
	// Keep a connection open across the rotation: it must survive.
	old, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	certA2, keyA2 := selfSigned(t, "a.example.com", "rotated.a.example.com")
	next := clone(f.res)
	next.Secrets["cert-a"] = secret("cert-a", certA2, keyA2)
	if err := f.p.Apply(config.TypeSecret, next); err != nil {
		t.Fatal(err)
	}
	if after := f.p.sockets[socketKey(f.p.state.Load().cfg.Listeners["tls"])]; after != before {
		t.Fatal("listener was rebound for a certificate change")
	}
	c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if names := c.ConnectionState().PeerCertificates[0].DNSNames; len(names) != 2 {
		t.Errorf("new connection still gets the old certificate: %v", names)
	}
	// The old connection still works.
	if _, err := io.WriteString(old, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := io.ReadFull(old, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Errorf("old connection after rotation: %q %v", buf, err)
	}
}
