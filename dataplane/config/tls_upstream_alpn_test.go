package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// meshTLSSocket is an UpstreamTlsContext as the translator emits it for an
// Istio mesh backend: system roots stand in for the mesh root (no SDS
// secret needed here), a URI SAN matcher and the offered ALPN.
func meshTLSSocket(alpn []string, san *matcherv3.StringMatcher, sanType tlsv3.SubjectAltNameMatcher_SanType) *corev3.TransportSocket {
	utc := &tlsv3.UpstreamTlsContext{
		Sni: "outbound_.8080_._.reviews.shop.svc.cluster.local",
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: alpn,
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				SystemRootCerts:           &tlsv3.CertificateValidationContext_SystemRootCerts{},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: sanType, Matcher: san}},
			}},
		},
	}
	return &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(utc)}}
}

func exactSAN(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func prefixSAN(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v}}
}

// TestUpstreamALPN: common_tls_context.alpn_protocols becomes the client's
// offered protocols, in order, and is part of the pool identity; invalid
// lists are NACKed with their path.
func TestUpstreamALPN(t *testing.T) {
	r := testResources()
	r.Clusters["c"].TransportSocket = meshTLSSocket([]string{"istio-http/1.1", "istio"}, exactSAN("spiffe://cluster.local/ns/shop/sa/reviews"), tlsv3.SubjectAltNameMatcher_URI)
	cfg := mustCompile(t, r)
	u := cfg.Clusters["c"].TLS
	if !slices.Equal(u.ALPN, []string{"istio-http/1.1", "istio"}) || !slices.Equal(u.Config.NextProtos, u.ALPN) {
		t.Fatalf("ALPN %v, NextProtos %v", u.ALPN, u.Config.NextProtos)
	}
	if u.Config.ServerName != "outbound_.8080_._.reviews.shop.svc.cluster.local" {
		t.Errorf("SNI %q", u.Config.ServerName)
	}
	other := testResources()
	other.Clusters["c"].TransportSocket = meshTLSSocket([]string{"istio-h2", "istio"}, exactSAN("spiffe://cluster.local/ns/shop/sa/reviews"), tlsv3.SubjectAltNameMatcher_URI)
	if mustCompile(t, other).Clusters["c"].TLS.Fingerprint() == u.Fingerprint() {
		t.Error("clusters differing only in ALPN share a pool fingerprint")
	}

	bad := []struct {
		name string
		alpn []string
		want string
	}{
		{"empty id", []string{"istio", ""}, `alpn_protocols[1]: a protocol id is 1 to 255 bytes long, got 0`},
		{"too long", []string{strings.Repeat("x", 256)}, `alpn_protocols[0]: a protocol id is 1 to 255 bytes long, got 256`},
		{"duplicate", []string{"istio", "istio"}, `alpn_protocols[1]: protocol "istio" is listed twice`},
	}
	for _, tc := range bad {
		r := testResources()
		r.Clusters["c"].TransportSocket = meshTLSSocket(tc.alpn, exactSAN("spiffe://cluster.local/ns/shop/sa/reviews"), tlsv3.SubjectAltNameMatcher_URI)
		if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `cluster "c"`) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestUpstreamURIPrefixSAN: a prefix matcher is accepted for URI SANs (every
// identity of a namespace) and NACKed for DNS SANs; verification applies it.
func TestUpstreamURIPrefixSAN(t *testing.T) {
	r := testResources()
	r.Clusters["c"].TransportSocket = meshTLSSocket(nil, prefixSAN("spiffe://cluster.local/ns/shop/sa/"), tlsv3.SubjectAltNameMatcher_URI)
	u := mustCompile(t, r).Clusters["c"].TLS
	if len(u.SANs) != 1 || !u.SANs[0].Prefix || !u.SANs[0].URI || u.SANs[0].Value != "spiffe://cluster.local/ns/shop/sa/" {
		t.Fatalf("SANs %+v", u.SANs)
	}
	r = testResources()
	r.Clusters["c"].TransportSocket = meshTLSSocket(nil, prefixSAN("shop."), tlsv3.SubjectAltNameMatcher_DNS)
	if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), "matcher.prefix: a prefix matcher is supported for URI SANs only") {
		t.Fatalf("DNS prefix: %v", err)
	}

	root, rootKey := selfSignedCA(t)
	leaf := func(uri string) tls.ConnectionState {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, URIs: []*url.URL{mustURL(t, uri)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	sans := []SANMatcher{{URI: true, Prefix: true, Value: "spiffe://cluster.local/ns/shop/sa/"}}
	if err := verifyUpstream(leaf("spiffe://cluster.local/ns/shop/sa/reviews"), pool, sans); err != nil {
		t.Errorf("identity of the namespace refused: %v", err)
	}
	if err := verifyUpstream(leaf("spiffe://cluster.local/ns/other/sa/reviews"), pool, sans); err == nil {
		t.Error("identity of another namespace accepted")
	}
	exact := []SANMatcher{{URI: true, Value: "spiffe://cluster.local/ns/shop/sa/reviews"}}
	if err := verifyUpstream(leaf("spiffe://cluster.local/ns/shop/sa/reviews-v2"), pool, exact); err == nil {
		t.Error("an exact URI matcher accepted a longer identity")
	}
}

func selfSignedCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
