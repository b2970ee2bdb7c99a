package proxy

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// serverProtocols is what every HTTP socket speaks: HTTP/1.1, HTTP/2 over
// TLS when the chain's ALPN (alpn_protocols) negotiates "h2", and h2c with
// prior knowledge on plain text (a connection opening with the HTTP/2
// preface). One socket serves all three, so a protocol never needs its own
// port and a socket is never rebound for it. HTTP/1.1 Upgrade to h2c is not
// offered (deprecated by RFC 9113).
//
// net/http accepts and dispatches on the negotiated protocol (it sees the
// *tls.Conn the accept loop made for the chain); its TLSNextProto hooks hand
// HTTP/2 connections to the data plane's own HTTP/2 server (h2serve.go).
func serverProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// upstreamH2C makes a cluster transport speak HTTP/2 with prior knowledge
// on plain connections (the cluster's http2_protocol_options): gRPC and
// other h2c backends. HTTP/1.1 is not offered, so a request can never fall
// back to it. WebSocket upgrades need an HTTP/1.1 cluster.
func upstreamH2C() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// misdirected reports whether a request on a TLS connection names a host
// that belongs to another filter chain than the one its SNI selected
// (RFC 9110 421 Misdirected Request). HTTP/2 clients coalesce connections
// for every name the certificate covers, so without this check a request
// for one listener's host could be served by another listener's routes.
// A host that selects no chain at all is left to routing (404), and so is
// an IP address: listener hostnames are never IPs, and clients that connect
// by address send it as the Host.
func misdirected(l *config.Listener, chain *config.FilterChain, authority string) bool {
	host := stripPort(authority)
	if host == "" || isIPLiteral(host) {
		return false
	}
	hc := l.Chain(host)
	return hc != nil && hc != chain
}

// isIPLiteral is net.ParseIP(host) != nil, without parsing (and
// allocating an error for) the usual host names: an IPv4 address starts
// with a digit and an IPv6 address has a colon, a name like
// www.example.com has neither.
func isIPLiteral(host string) bool {
	if host == "" || (host[0] < '0' || host[0] > '9') && strings.IndexByte(host, ':') < 0 {
		return false
	}
	return net.ParseIP(host) != nil
}

// stripPort removes a ":port" from an authority, keeping IPv6 literals.
// An authority without a colon or brackets, what HTTP/2 clients usually
// send as :authority, is returned as it is: net.SplitHostPort would
// allocate a "missing port" error for it on every request.
func stripPort(authority string) string {
	if strings.IndexAny(authority, ":[]") < 0 {
		return authority
	}
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]")
}

// acceptUpgrade applies upgrade_configs to an HTTP/1.1 Upgrade request: a
// configured type (websocket) is proxied as a stream, "h2c" is dropped
// (HTTP/2 over plain text is served with prior knowledge only, and the
// request is answered as HTTP/1.1, as Envoy does), any other type is
// refused (403, as Envoy does). HTTP/2 requests carry no Upgrade.
func acceptUpgrade(hcm *config.HTTPManager, r *http.Request) bool {
	if r.ProtoMajor != 1 || !headerHasToken(r.Header, "Connection", "upgrade") {
		return true
	}
	typ := strings.ToLower(strings.TrimSpace(r.Header.Get("Upgrade")))
	if typ == "" {
		return true
	}
	if typ == "h2c" {
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
		return true
	}
	return slices.Contains(hcm.Upgrades, typ)
}

// headerHasToken reports whether a comma-separated header lists token
// (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
