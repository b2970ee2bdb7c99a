package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/edgeway/edgeway/controller/ir"
)

// acmeTLS1 is the ALPN protocol of ACME TLS-ALPN-01 validation (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// directResponseFilter is Envoy's direct_response network filter; go-control-
// plane's wellknown has no constant for it.
const directResponseFilter = "envoy.filters.network.direct_response"

// acmeChallengeChain answers TLS-ALPN-01 validation for one domain: matched
// on the SNI and the client's ALPN "acme-tls/1" together, so it stands in
// front of the domain's ordinary chain for ACME servers only (Envoy matches
// server names before application protocols, and prefers a chain listing
// the offered protocol over one listing none). It negotiates "acme-tls/1",
// presents the validation certificate over SDS (a new token is then an SDS
// push, the chain itself only appears and disappears with the challenge)
// and has the empty direct_response as its only filter: nothing is sent
// after the handshake, the connection is closed.
func (t *translator) acmeChallengeChain(c *ir.TLSChain) *listenerv3.FilterChain {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{acmeTLS1},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name: c.ACMEChallenge.Certificate, SdsConfig: adsConfigSource(),
		}},
	}}
	return &listenerv3.FilterChain{
		Name: c.Name,
		FilterChainMatch: &listenerv3.FilterChainMatch{
			ServerNames:          []string{c.ServerNames[0]},
			ApplicationProtocols: []string{acmeTLS1},
		},
		TransportSocket: &corev3.TransportSocket{
			Name:       wellknown.TransportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.any(ctx)},
		},
		Filters: []*listenerv3.Filter{t.directResponse()},
	}
}

// directResponse is the empty direct_response network filter: it sends
// nothing and closes the connection (after the handshake on a challenge
// chain, at once on a refusing chain).
func (t *translator) directResponse() *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       directResponseFilter,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: t.any(&directresponsev3.Config{})},
	}
}

// acmeFallthroughChains keeps the IR's promise that a client without
// "acme-tls/1" gets the chain it would get without the challenge. Envoy
// picks the most specific server name first and never falls back to a less
// specific one: a challenge for app.example.com next to only a
// *.example.com (or a default) chain would leave every other client for
// app.example.com without a chain. So when no ordinary chain names the
// domain exactly, the chain that would serve it (longest matching wildcard,
// else the default chain) is repeated for exactly that name, named
// "<chain>@<domain>". These chains live and die with the challenge.
func acmeFallthroughChains(chains []*ir.TLSChain) []*ir.TLSChain {
	var out []*ir.TLSChain
	for _, c := range chains {
		if c.ACMEChallenge == nil || len(c.ServerNames) != 1 {
			continue
		}
		domain := c.ServerNames[0]
		serving, exact := ordinaryChainFor(chains, domain)
		if serving == nil || exact {
			continue
		}
		stand := *serving
		stand.Name = serving.Name + "@" + domain
		stand.ServerNames = []string{domain}
		out = append(out, &stand)
	}
	return out
}

// ordinaryChainFor is Envoy's server name match over the chains that are
// not challenges: the chain naming domain exactly (exact is then true),
// else the longest "*.suffix" wildcard matching it, else the chain without
// server names, else nil.
func ordinaryChainFor(chains []*ir.TLSChain, domain string) (c *ir.TLSChain, exact bool) {
	var wildcard, fallback *ir.TLSChain
	longest := 0
	for _, ch := range chains {
		if ch.ACMEChallenge != nil {
			continue
		}
		if len(ch.ServerNames) == 0 {
			fallback = ch
		}
		for _, sn := range ch.ServerNames {
			switch {
			case strings.EqualFold(sn, domain):
				return ch, true
			case strings.HasPrefix(sn, "*"):
				suffix := sn[1:]
				if len(domain) > len(suffix) && strings.HasSuffix(strings.ToLower(domain), strings.ToLower(suffix)) && len(suffix) > longest {
					wildcard, longest = ch, len(suffix)
				}
			}
		}
	}
	if wildcard != nil {
		return wildcard, false
	}
	return fallback, false
}
