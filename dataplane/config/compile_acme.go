package config

import (
	"fmt"
	"strings"
)

// nameDirectResponse is the network filter of a TLS-ALPN-01 challenge chain.
const nameDirectResponse = "envoy.filters.network.direct_response"

// acmeTLS1 is the ALPN protocol of ACME TLS-ALPN-01 validation (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// A TLS-ALPN-01 challenge chain is the one shape in the contract that uses
// filter_chain_match.application_protocols, the "acme-tls/1" ALPN and the
// direct_response filter (docs/xds-contract.md, "ACME TLS-ALPN-01
// challenge chains"):
//
//	filter_chain_match {server_names: [<domain>], application_protocols: ["acme-tls/1"]}
//	transport_socket: DownstreamTlsContext {alpn_protocols: ["acme-tls/1"], one SDS certificate}
//	filters: [direct_response {}]
//
// Each of the three pieces is refused anywhere else, and the chain is
// refused unless it has all of them: the proxy only knows how to serve the
// whole (handshake with the validation certificate, then close), and a
// partial shape could send HTTP clients into a chain that never answers.

// compileApplicationProtocols accepts an empty list or exactly
// ["acme-tls/1"]. Matching on other protocols (an h2-only chain, say) is
// not something the translator emits, so it is not implemented.
func compileApplicationProtocols(rep reporter, loc string, protos []string) ([]string, error) {
	loc += ".filter_chain_match.application_protocols"
	for i, p := range protos {
		if p != acmeTLS1 {
			return nil, rep.errf(fmt.Sprintf("%s[%d]", loc, i), "unsupported application protocol %q: only %q (TLS-ALPN-01 challenge chains) is matched on", p, acmeTLS1)
		}
	}
	if len(protos) > 1 {
		return nil, rep.errf(loc, "must be exactly [%q], got %d entries", acmeTLS1, len(protos))
	}
	return protos, nil
}

// compileALPN checks a DownstreamTlsContext's alpn_protocols: h2 and
// http/1.1 (what the HTTP server speaks) on ordinary chains, exactly
// "acme-tls/1" on a challenge chain and nowhere else.
func compileALPN(rep reporter, loc string, protos []string, challenge bool) ([]string, error) {
	for i, p := range protos {
		at := fmt.Sprintf("%s[%d]", loc, i)
		switch {
		case challenge && p != acmeTLS1:
			return nil, rep.errf(at, "unsupported protocol %q on a TLS-ALPN-01 challenge chain (filter_chain_match.application_protocols [%q]): it negotiates only %q", p, acmeTLS1, acmeTLS1)
		case !challenge && p == acmeTLS1:
			return nil, rep.errf(at, "%q is only negotiated on a TLS-ALPN-01 challenge chain (filter_chain_match.application_protocols [%q], filter %q)", p, acmeTLS1, nameDirectResponse)
		case !challenge && p != "h2" && p != "http/1.1":
			// The HTTP server speaks HTTP/2 and HTTP/1.1 behind TLS;
			// advertising anything else would be a promise it cannot keep.
			return nil, rep.errf(at, "unsupported protocol %q (h2 or http/1.1)", p)
		}
	}
	if challenge && len(protos) != 1 {
		return nil, rep.errf(loc, "a TLS-ALPN-01 challenge chain must negotiate exactly [%q], got %q", acmeTLS1, protos)
	}
	return protos, nil
}

// checkChallengeShape runs once the chain is compiled: a chain with
// application_protocols must be a complete challenge chain, and
// direct_response belongs to nothing else but a refusing chain: no
// application_protocols and no transport_socket, so the connection is
// closed as soon as the SNI selects the chain, before any handshake
// (docs/xds-contract.md, "Refusing chains"). floc is the location of the
// terminal network filter.
func checkChallengeShape(rep reporter, loc, floc string, fc *FilterChain, ctls *chainTLS) error {
	if len(fc.ApplicationProtocols) == 0 {
		if fc.DirectResponse != nil && ctls != nil {
			return rep.errf(floc+".name", "%q is only supported on a TLS-ALPN-01 challenge chain (filter_chain_match.application_protocols [%q]) or on a refusing chain without transport_socket", nameDirectResponse, acmeTLS1)
		}
		return nil
	}
	if len(fc.ServerNames) != 1 || strings.Contains(fc.ServerNames[0], "*") {
		return rep.errf(loc+".filter_chain_match.server_names", "a TLS-ALPN-01 challenge chain matches exactly one exact server name (the domain being validated), got %q", fc.ServerNames)
	}
	if ctls == nil {
		return rep.errf(loc+".transport_socket", "a TLS-ALPN-01 challenge chain terminates TLS: a DownstreamTlsContext with the validation certificate is required")
	}
	if len(ctls.secrets) != 1 {
		return rep.errf(loc+".transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs", "a TLS-ALPN-01 challenge chain presents exactly one certificate (the validation certificate), got %d", len(ctls.secrets))
	}
	if ctls.client != nil {
		return rep.errf(loc+".transport_socket.typed_config", "a TLS-ALPN-01 challenge chain does not ask for client certificates (no validation context, no require_client_certificate)")
	}
	if fc.DirectResponse == nil {
		return rep.errf(floc+".name", "a TLS-ALPN-01 challenge chain closes after the handshake: its filter must be %q", nameDirectResponse)
	}
	return nil
}
