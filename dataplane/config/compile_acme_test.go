package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// acmeTestTLS is a DownstreamTlsContext transport socket with the given
// ALPN protocols and SDS certificates.
func acmeTestTLS(alpn []string, secrets ...string) *corev3.TransportSocket {
	ctc := &tlsv3.CommonTlsContext{AlpnProtocols: alpn}
	for _, s := range secrets {
		ctc.TlsCertificateSdsSecretConfigs = append(ctc.TlsCertificateSdsSecretConfigs, &tlsv3.SdsSecretConfig{Name: s, SdsConfig: adsSource()})
	}
	return &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{CommonTlsContext: ctc})}}
}

func directResponseFilter(c *directresponsev3.Config) *listenerv3.Filter {
	return &listenerv3.Filter{Name: nameDirectResponse, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(c)}}
}

// challengeChain is the contract's TLS-ALPN-01 chain for domain.
func challengeChain(name, domain, secret string) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Name: name,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{domain}, ApplicationProtocols: []string{acmeTLS1}},
		TransportSocket:  acmeTestTLS([]string{acmeTLS1}, secret),
		Filters:          []*listenerv3.Filter{directResponseFilter(&directresponsev3.Config{})}}
}

// acmeResources: one TLS listener with an HTTPS chain for app.example.com,
// an HTTPS wildcard chain for *.example.com and a challenge chain for
// app.example.com.
func acmeResources(t *testing.T) *Resources {
	r := testResources()
	certPEM, keyPEM := testCert(t)
	for _, n := range []string{"cert", "challenge"} {
		r.Secrets[n] = &tlsv3.Secret{Name: n, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: certPEM}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}}}}}
	}
	l := r.Listeners["0.0.0.0:8080"]
	l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: nameTLSInspector, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})}}}
	https := l.FilterChains[0]
	https.Name = "https/app"
	https.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"app.example.com"}}
	https.TransportSocket = acmeTestTLS([]string{"h2", "http/1.1"}, "cert")
	wild := proto.Clone(https).(*listenerv3.FilterChain)
	wild.Name = "https/wild"
	wild.FilterChainMatch.ServerNames = []string{"*.example.com"}
	l.FilterChains = []*listenerv3.FilterChain{challengeChain("acme-tls-alpn/app.example.com", "app.example.com", "challenge"), https, wild}
	return r
}

// TestACMEChallengeChainSelection: the server name is matched first, as
// before; among the chains of that name, the challenge chain wins only for
// a client offering "acme-tls/1".
func TestACMEChallengeChainSelection(t *testing.T) {
	cfg, err := Compile(acmeResources(t))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners["0.0.0.0:8080"]
	for _, tc := range []struct {
		sni  string
		alpn []string
		want string
	}{
		{"app.example.com", []string{acmeTLS1}, "acme-tls-alpn/app.example.com"},
		{"APP.example.com", []string{"h2", acmeTLS1}, "acme-tls-alpn/app.example.com"},
		{"app.example.com", []string{"h2", "http/1.1"}, "https/app"},
		{"app.example.com", nil, "https/app"},
		{"other.example.com", []string{acmeTLS1}, "https/wild"},
		{"other.example.com", nil, "https/wild"},
	} {
		c := l.SelectChain(tc.sni, tc.alpn)
		if c == nil || c.Name != tc.want {
			t.Errorf("SelectChain(%q, %q) = %v, want %s", tc.sni, tc.alpn, c, tc.want)
		}
	}
	if c := l.Chain("app.example.com"); c.Name != "https/app" {
		t.Errorf("Chain(app.example.com) = %s: requests must never see the challenge chain", c.Name)
	}
	ch := l.SelectChain("app.example.com", []string{acmeTLS1})
	if ch.DirectResponse == nil || ch.HTTP != nil || ch.TCP != nil || ch.TLS == nil {
		t.Fatalf("challenge chain compiled as %+v", ch)
	}
	if !slices.Equal(ch.TLS.NextProtos, []string{acmeTLS1}) || len(ch.TLS.Certificates) != 1 || ch.TLS.ClientAuth != 0 {
		t.Errorf("challenge TLS: ALPN %q, %d certificates, client auth %v", ch.TLS.NextProtos, len(ch.TLS.Certificates), ch.TLS.ClientAuth)
	}

	// Envoy's match does not fall back to a less specific server name:
	// with no plain chain for the challenge's exact name, a client
	// without acme-tls/1 matches nothing (the translator emits a plain
	// chain for the name for that reason).
	r := acmeResources(t)
	l2 := r.Listeners["0.0.0.0:8080"]
	l2.FilterChains = slices.Delete(l2.FilterChains, 1, 2)
	cfg, err = Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Listeners["0.0.0.0:8080"].SelectChain("app.example.com", []string{"h2"}); c != nil {
		t.Errorf("without a plain chain for the name, h2 client got %s", c.Name)
	}
	if c := cfg.Listeners["0.0.0.0:8080"].SelectChain("app.example.com", []string{acmeTLS1}); c == nil || c.DirectResponse == nil {
		t.Errorf("challenge client got %v", c)
	}
}

// TestACMEChallengeNACKs: every shape outside the contract's challenge
// chain is refused, naming the field.
func TestACMEChallengeNACKs(t *testing.T) {
	const at = `listener "0.0.0.0:8080": filter_chains[`
	tests := []struct {
		name   string
		mutate func(chains []*listenerv3.FilterChain) // [challenge, https/app, https/wild]
		want   string
	}{
		{"other application protocol", func(c []*listenerv3.FilterChain) {
			c[1].FilterChainMatch.ApplicationProtocols = []string{"h2"}
		}, at + `1].filter_chain_match.application_protocols[0]: unsupported application protocol "h2": only "acme-tls/1" (TLS-ALPN-01 challenge chains) is matched on`},
		{"two application protocols", func(c []*listenerv3.FilterChain) {
			c[0].FilterChainMatch.ApplicationProtocols = []string{acmeTLS1, acmeTLS1}
		}, at + `0].filter_chain_match.application_protocols: must be exactly ["acme-tls/1"], got 2 entries`},
		{"application_protocols on an HTTPS chain", func(c []*listenerv3.FilterChain) {
			c[2].FilterChainMatch.ApplicationProtocols = []string{acmeTLS1}
		}, at + `2].transport_socket.typed_config.common_tls_context.alpn_protocols[0]: unsupported protocol "h2" on a TLS-ALPN-01 challenge chain`},
		{"application_protocols on an HTTP chain negotiating acme-tls/1", func(c []*listenerv3.FilterChain) {
			c[2].FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"b.example.com"}, ApplicationProtocols: []string{acmeTLS1}}
			c[2].TransportSocket = acmeTestTLS([]string{acmeTLS1}, "cert")
		}, at + `2].filters[0].name: a TLS-ALPN-01 challenge chain closes after the handshake: its filter must be "envoy.filters.network.direct_response"`},
		{"direct_response with a body", func(c []*listenerv3.FilterChain) {
			c[0].Filters[0] = directResponseFilter(&directresponsev3.Config{Response: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "hi"}}})
		}, at + `0].filters[0].typed_config: unsupported field "response"`},
		{"direct_response on a plain chain", func(c []*listenerv3.FilterChain) {
			c[2].Filters[0] = directResponseFilter(&directresponsev3.Config{})
		}, at + `2].filters[0].name: "envoy.filters.network.direct_response" is only supported on a TLS-ALPN-01 challenge chain`},
		{"acme-tls/1 ALPN on an HTTPS chain", func(c []*listenerv3.FilterChain) {
			c[1].TransportSocket = acmeTestTLS([]string{"h2", acmeTLS1}, "cert")
		}, at + `1].transport_socket.typed_config.common_tls_context.alpn_protocols[1]: "acme-tls/1" is only negotiated on a TLS-ALPN-01 challenge chain`},
		{"challenge without ALPN", func(c []*listenerv3.FilterChain) {
			c[0].TransportSocket = acmeTestTLS(nil, "challenge")
		}, at + `0].transport_socket.typed_config.common_tls_context.alpn_protocols: a TLS-ALPN-01 challenge chain must negotiate exactly ["acme-tls/1"]`},
		{"challenge for a wildcard", func(c []*listenerv3.FilterChain) {
			c[0].FilterChainMatch.ServerNames = []string{"*.example.com"}
		}, at + `0].filter_chain_match.server_names: a TLS-ALPN-01 challenge chain matches exactly one exact server name`},
		{"challenge for every name", func(c []*listenerv3.FilterChain) {
			c[0].FilterChainMatch.ServerNames = nil
		}, at + `0].filter_chain_match.server_names: a TLS-ALPN-01 challenge chain matches exactly one exact server name`},
		{"challenge without TLS", func(c []*listenerv3.FilterChain) {
			c[0].TransportSocket = nil
		}, at + `0].transport_socket: a TLS-ALPN-01 challenge chain terminates TLS`},
		{"challenge with two certificates", func(c []*listenerv3.FilterChain) {
			c[0].TransportSocket = acmeTestTLS([]string{acmeTLS1}, "challenge", "cert")
		}, at + `0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs: a TLS-ALPN-01 challenge chain presents exactly one certificate (the validation certificate), got 2`},
		{"challenge asking for client certificates", func(c []*listenerv3.FilterChain) {
			c[0].TransportSocket.GetTypedConfig().Value, _ = proto.Marshal(&tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true),
				CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{acmeTLS1},
					TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "challenge", SdsConfig: adsSource()}},
					ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ca", SdsConfig: adsSource()}}}})
		}, at + `0].transport_socket.typed_config: a TLS-ALPN-01 challenge chain does not ask for client certificates`},
		{"two challenge chains for one name", func(c []*listenerv3.FilterChain) {
			c[2] = challengeChain("again", "APP.example.com", "challenge")
		}, at + `2].filter_chain_match.server_names[0]: server name "APP.example.com" with application protocol "acme-tls/1" is used by more than one filter chain`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := acmeResources(t)
			tc.mutate(r.Listeners["0.0.0.0:8080"].FilterChains)
			err := Validate(TypeListener, r)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a FieldError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}
