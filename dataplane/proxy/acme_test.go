package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/go-acme/lego/v4/challenge/tlsalpn01"

	"github.com/edgeway/edgeway/dataplane/config"
)

// idPeACMEIdentifier is the RFC 8737 certificate extension carrying the
// SHA-256 of the key authorization.
var idPeACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

const testKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

// challengeCertPEM is the real TLS-ALPN-01 validation certificate, made by
// lego exactly as its own challenge server makes it, encoded the way the
// controller ships it over SDS.
func challengeCertPEM(t *testing.T, domain, keyAuth string) (certPEM, keyPEM []byte) {
	t.Helper()
	c, err := tlsalpn01.ChallengeCert(domain, keyAuth)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// httpsSocket is an HTTPS chain's DownstreamTlsContext as the translator
// emits it (ALPN h2 and http/1.1).
func httpsSocket(t testing.TB, secret string) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2", "http/1.1"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: secret, SdsConfig: ads()}}}})}}
}

// acmeChallengeChain is the contract's TLS-ALPN-01 chain for domain.
func acmeChallengeChain(t testing.TB, domain, secret string) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name:             "acme-tls-alpn/" + domain,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{domain}, ApplicationProtocols: []string{tlsalpn01.ACMETLS1Protocol}},
		TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{
			CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{tlsalpn01.ACMETLS1Protocol},
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: secret, SdsConfig: ads()}}}})}},
		Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.direct_response",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &directresponsev3.Config{})}}},
	}
}

// acmeFixture: one TLS port with HTTPS chains for app.example.com and
// other.example.com (each with its own certificate and backend).
type acmeFixture struct {
	p    *Proxy
	res  *config.Resources
	addr string
	// appCert is the ordinary certificate of app.example.com.
	appCert []byte
}

func newACMEFixture(t *testing.T) *acmeFixture {
	t.Helper()
	app, other := startBackend(t, "app"), startBackend(t, "other")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "app", backendAddr(app))
	addCluster(res, "other", backendAddr(other))
	res.Routes["rc-app"] = routeConfig("rc-app", vhost("app", []string{"*"}, toCluster(prefixMatch("/"), "app")))
	res.Routes["rc-other"] = routeConfig("rc-other", vhost("other", []string{"*"}, toCluster(prefixMatch("/"), "other")))
	appCert, appKey := selfSigned(t, "app.example.com")
	otherCert, otherKey := selfSigned(t, "other.example.com")
	res.Secrets["default/app"] = secret("default/app", appCert, appKey)
	res.Secrets["default/other"] = secret("default/other", otherCert, otherKey)
	res.Listeners["tls"] = listener(t, "tls", 0, true,
		chain("https/app.example.com", []string{"app.example.com"}, httpsSocket(t, "default/app"), hcmFilter(t, hcm(t, "rc-app"))),
		chain("https/other.example.com", []string{"other.example.com"}, httpsSocket(t, "default/other"), hcmFilter(t, hcm(t, "rc-other"))),
	)
	applyAll(t, p, res)
	block, _ := pem.Decode(appCert)
	return &acmeFixture{p: p, res: res, addr: p.ListenerAddr("tls").String(), appCert: block.Bytes}
}

// withChallenge returns the fixture's resources plus a challenge chain and
// its validation certificate for domain.
func (f *acmeFixture) withChallenge(t *testing.T, domain string) *config.Resources {
	t.Helper()
	next := clone(f.res)
	name := "acme-tls-alpn/default/app/" + domain
	certPEM, keyPEM := challengeCertPEM(t, domain, testKeyAuth)
	next.Secrets[name] = secret(name, certPEM, keyPEM)
	l := f.res.Listeners["tls"]
	next.Listeners["tls"] = listener(t, "tls", 0, true, append([]*listenerv3.FilterChain{acmeChallengeChain(t, domain, name)}, l.FilterChains...)...)
	return next
}

// validateTLSALPN01 is what an ACME server checks (RFC 8737 section 3):
// ALPN acme-tls/1 negotiated, a certificate for exactly the domain, and
// the critical acmeIdentifier extension holding SHA-256(key authorization).
// It reports the first failure, nil when the challenge would pass.
func validateTLSALPN01(st tls.ConnectionState, domain, keyAuth string) error {
	if st.NegotiatedProtocol != tlsalpn01.ACMETLS1Protocol {
		return errors.New("ALPN " + st.NegotiatedProtocol + " negotiated, not acme-tls/1")
	}
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || !strings.EqualFold(leaf.DNSNames[0], domain) {
		return errors.New("certificate names " + fmtNames(leaf.DNSNames) + ", not exactly " + domain)
	}
	want := sha256.Sum256([]byte(keyAuth))
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(idPeACMEIdentifier) {
			continue
		}
		var got []byte
		if rest, err := asn1.Unmarshal(ext.Value, &got); err != nil || len(rest) != 0 {
			return errors.New("acmeIdentifier extension is not an OCTET STRING")
		}
		if !ext.Critical || !bytes.Equal(got, want[:]) {
			return errors.New("acmeIdentifier extension not critical or wrong digest")
		}
		return nil
	}
	return errors.New("no acmeIdentifier extension")
}

func fmtNames(n []string) string { return "[" + strings.Join(n, ",") + "]" }

// dialTLS dials addr with the SNI and ALPN protocols given.
func dialTLS(addr, sni string, alpn ...string) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true})
}

// expectChallengeAnswered dials as an ACME server does and checks the
// validation, then that the proxy closes the connection without sending
// application data.
func expectChallengeAnswered(t *testing.T, addr, domain string) {
	t.Helper()
	c, err := dialTLS(addr, domain, tlsalpn01.ACMETLS1Protocol)
	if err != nil {
		t.Fatalf("ACME client (sni %s): %v", domain, err)
	}
	defer c.Close()
	if err := validateTLSALPN01(c.ConnectionState(), domain, testKeyAuth); err != nil {
		t.Fatalf("TLS-ALPN-01 validation of %s would fail: %v", domain, err)
	}
	// Only a guard against hanging forever; the close is expected at once.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("after the challenge handshake: read %d bytes, %v; want the connection closed (EOF)", n, err)
	}
}

// expectNoChallenge: a client offering acme-tls/1 (alone, as an ACME
// server does, and beside http/1.1) for sni never sees the validation
// certificate. Offering acme-tls/1 alone to an HTTPS chain has no ALPN in
// common, which crypto/tls refuses (RFC 7301 no_application_protocol);
// either way the challenge is not answered. With https, sni has an HTTPS
// chain that must serve the client offering http/1.1 as well.
func expectNoChallenge(t *testing.T, addr, sni string, https bool) {
	t.Helper()
	if c, err := dialTLS(addr, sni, tlsalpn01.ACMETLS1Protocol); err == nil {
		if validateTLSALPN01(c.ConnectionState(), sni, testKeyAuth) == nil {
			t.Errorf("sni %s: challenge answered", sni)
		}
		c.Close()
	}
	c, err := dialTLS(addr, sni, tlsalpn01.ACMETLS1Protocol, "http/1.1")
	if !https {
		if err == nil {
			t.Errorf("sni %s matches no chain, yet the handshake succeeded (ALPN %q)", sni, c.ConnectionState().NegotiatedProtocol)
			c.Close()
		}
		return
	}
	if err != nil {
		t.Fatalf("sni %s, ALPN acme-tls/1 + http/1.1: %v", sni, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.NegotiatedProtocol != "http/1.1" || validateTLSALPN01(st, sni, testKeyAuth) == nil {
		t.Errorf("sni %s: negotiated %q with the validation certificate", sni, st.NegotiatedProtocol)
	}
}

// httpsRequest sends one HTTP/1.1 request on an open TLS connection and
// returns the backend that answered.
func httpsRequest(t *testing.T, c *tls.Conn, br *bufio.Reader, host string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+host+"/", nil)
	if err := req.Write(c); err != nil {
		t.Fatalf("request on the open connection: %v", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("response on the open connection: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return parseEcho(string(body)).Backend
}

// TestACMETLSALPNChallengeChain: with a challenge chain for app.example.com
// beside its HTTPS chain, an ACME client (ALPN acme-tls/1) gets the lego
// validation certificate with acme-tls/1 negotiated and the connection
// closes; a browser-like client with the same SNI gets the ordinary
// certificate and an HTTP answer; acme-tls/1 for another name gets nothing
// of the challenge.
func TestACMETLSALPNChallengeChain(t *testing.T) {
	f := newACMEFixture(t)
	if err := f.p.Apply(config.TypeListener, f.withChallenge(t, "app.example.com")); err != nil {
		t.Fatal(err)
	}

	expectChallengeAnswered(t, f.addr, "app.example.com")
	expectChallengeAnswered(t, f.addr, "APP.EXAMPLE.COM") // SNI is case-insensitive

	for _, alpn := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}} {
		body, st := httpsGetALPN(t, f.addr, "app.example.com", alpn)
		if !bytes.Equal(st.PeerCertificates[0].Raw, f.appCert) {
			t.Errorf("ALPN %q: not the ordinary certificate of app.example.com", alpn)
		}
		if st.NegotiatedProtocol != alpn[0] {
			t.Errorf("ALPN %q: negotiated %q", alpn, st.NegotiatedProtocol)
		}
		if e := parseEcho(body); e.Backend != "app" {
			t.Errorf("ALPN %q: answered by %q, want the app backend", alpn, e.Backend)
		}
	}
	expectNoChallenge(t, f.addr, "other.example.com", true)
	expectNoChallenge(t, f.addr, "unknown.example.com", false)
}

// httpsGetALPN is one GET through a client offering exactly alpn.
func httpsGetALPN(t *testing.T, addr, sni string, alpn []string) (string, *tls.ConnectionState) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: alpn}, ForceAttemptHTTP2: slices.Contains(alpn, "h2")}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET via sni %q, ALPN %q: %v", sni, alpn, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.TLS
}

// TestACMEChallengeChainSwapKeepsConnections: adding the challenge chain
// and removing it again are listener changes, applied without rebinding
// the socket; an HTTPS connection opened before the challenge keeps
// serving requests through both changes.
func TestACMEChallengeChainSwapKeepsConnections(t *testing.T) {
	f := newACMEFixture(t)
	sock := f.p.sockets[socketKey(f.p.state.Load().cfg.Listeners["tls"])]
	open, err := dialTLS(f.addr, "app.example.com", "http/1.1")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	br := bufio.NewReader(open)
	if b := httpsRequest(t, open, br, "app.example.com"); b != "app" {
		t.Fatalf("before: answered by %q", b)
	}

	with := f.withChallenge(t, "app.example.com")
	for _, typ := range []string{config.TypeListener, config.TypeSecret} {
		if err := f.p.Apply(typ, with); err != nil {
			t.Fatalf("adding the challenge (%s): %v", typ, err)
		}
	}
	expectChallengeAnswered(t, f.addr, "app.example.com")
	if b := httpsRequest(t, open, br, "app.example.com"); b != "app" {
		t.Fatalf("open connection after the challenge was added: answered by %q", b)
	}

	for _, typ := range []string{config.TypeListener, config.TypeSecret} {
		if err := f.p.Apply(typ, f.res); err != nil {
			t.Fatalf("removing the challenge (%s): %v", typ, err)
		}
	}
	expectNoChallenge(t, f.addr, "app.example.com", true)
	if b := httpsRequest(t, open, br, "app.example.com"); b != "app" {
		t.Fatalf("open connection after the challenge was removed: answered by %q", b)
	}
	if f.p.sockets[socketKey(f.p.state.Load().cfg.Listeners["tls"])] != sock {
		t.Error("the TLS socket was rebound for a challenge chain change")
	}
}
