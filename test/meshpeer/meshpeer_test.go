package meshpeer

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
)

// TestPeerBehavesLikeStrictSidecar: a client with a mesh certificate and
// Istio's ALPN is served (HTTP/1.1, HTTP/2 with prior knowledge after
// istio-h2, and the TCP chain); a client without a certificate, with a
// certificate of another CA or with a non-Istio ALPN is refused.
func TestPeerBehavesLikeStrictSidecar(t *testing.T) {
	now := time.Now()
	cacerts, err := mesh.GenerateCACerts("peer test", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Options{Name: "reviews", CACerts: cacerts, TrustDomain: "cluster.local", Namespace: "shop", ServiceAccount: "reviews"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ca, _ := mesh.ParseCACerts(cacerts)
	w, err := ca.Issue(mesh.SPIFFEID("cluster.local", "edge", "gw"), now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := tls.X509KeyPair(w.ChainPEM, w.KeyPEM)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cacerts[mesh.KeyRootCert])
	cfg := func(alpn ...string) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{clientCert}, NextProtos: alpn, ServerName: "outbound_.9080_._.reviews.shop.svc.cluster.local",
			RootCAs: roots, InsecureSkipVerify: true} // the SNI is no DNS name of the peer: Istio checks the SPIFFE ID instead
	}
	get := func(c *tls.Config, h2 bool) (*http.Response, error) {
		protos := new(http.Protocols)
		if h2 {
			protos.SetUnencryptedHTTP2(true)
		} else {
			protos.SetHTTP1(true)
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: protos,
			Dial: func(_, _ string) (net.Conn, error) {
				tc, err := tls.Dial("tcp", p.Addr, c)
				if err != nil {
					return nil, err
				}
				return struct{ net.Conn }{tc}, nil
			}}}
		return client.Get("http://" + p.Addr + "/x")
	}
	for _, tc := range []struct {
		alpn  string
		h2    bool
		proto string
	}{{"istio-http/1.1", false, "HTTP/1.1"}, {"istio-h2", true, "HTTP/2.0"}} {
		resp, err := get(cfg(tc.alpn, "istio"), tc.h2)
		if err != nil {
			t.Fatalf("%s: %v", tc.alpn, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		if h.Get("X-Peer-Identity") != "spiffe://cluster.local/ns/edge/sa/gw" || h.Get("X-Peer-ALPN") != tc.alpn+",istio" ||
			h.Get("X-Peer-Proto") != tc.proto || h.Get("X-Peer-SNI") != "outbound_.9080_._.reviews.shop.svc.cluster.local" {
			t.Errorf("%s: headers %v", tc.alpn, h)
		}
	}
	// The TCP chain.
	c, err := tls.Dial("tcp", p.Addr, cfg("istio-peer-exchange", "istio"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.Contains(line, "identity=spiffe://cluster.local/ns/edge/sa/gw") || !strings.Contains(line, "alpn=istio-peer-exchange,istio") {
		t.Errorf("TCP chain: %q %v", line, err)
	}
	// The server presents its own identity.
	c, err = tls.Dial("tcp", p.Addr, cfg("istio"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].URIs[0].String(); got != "spiffe://cluster.local/ns/shop/sa/reviews" {
		t.Errorf("server identity %s", got)
	}
	c.Close()

	other, _ := mesh.GenerateCACerts("other", now, time.Hour)
	oca, _ := mesh.ParseCACerts(other)
	ow, _ := oca.Issue(mesh.SPIFFEID("cluster.local", "edge", "gw"), now, time.Hour)
	otherCert, _ := tls.X509KeyPair(ow.ChainPEM, ow.KeyPEM)
	refusedBefore := len(p.Refused())
	for name, c := range map[string]*tls.Config{
		"no certificate": {NextProtos: []string{"istio-http/1.1"}, InsecureSkipVerify: true},
		// Sent even though the peer's CertificateRequest names another CA.
		"other CA": {NextProtos: []string{"istio-http/1.1"}, InsecureSkipVerify: true,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &otherCert, nil }},
		"non-Istio ALPN": cfg("h2", "http/1.1"),
		"no ALPN at all": cfg(),
	} {
		if resp, err := get(c, false); err == nil {
			resp.Body.Close()
			t.Errorf("%s: served %s", name, resp.Status)
		}
	}
	waitFor(t, func() bool { return len(p.Refused()) >= refusedBefore+4 })
	all := strings.Join(p.Refused(), "\n")
	for _, want := range []string{"client didn't provide a certificate", "certificate signed by unknown authority", `no filter chain for ALPN ["h2" "http/1.1"]`, "no filter chain for ALPN []"} {
		if !strings.Contains(all, want) {
			t.Errorf("refusals lack %q:\n%s", want, all)
		}
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
