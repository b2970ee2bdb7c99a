package config

import (
	"crypto/tls"
	"time"
)

// Config is one compiled, immutable configuration. The proxy swaps whole
// Configs atomically; a request or connection that loaded one keeps using it
// to the end, so nothing in here may ever be mutated after Compile returns.
type Config struct {
	Listeners map[string]*Listener   // by listener name
	Routes    map[string]*RouteTable // by route configuration name
	Clusters  map[string]*Cluster    // by cluster name
}

// Listener is one socket and its filter chains.
type Listener struct {
	Name    string
	Address string // host:port for net.Listen
	// Inspect is true when the listener has the tls_inspector: the proxy
	// peeks at a ClientHello to learn the SNI before picking a chain.
	Inspect bool
	// ProxyProtocol is true when the listener has the proxy_protocol
	// listener filter: every connection starts with a PROXY v1 or v2
	// header naming the real client, which becomes the remote address.
	ProxyProtocol bool
	// UDP is set on a UDP listener (socket_address.protocol UDP); it has
	// no Chains.
	UDP    *UDPProxy
	Chains []*FilterChain
	sni    hostTable[*chainSet]
}

// Chain selects the filter chain for a client that offers no application
// protocol any chain matches on (a plain text connection, or a ClientHello
// without "acme-tls/1"); see SelectChain. Requests use it to find the chain
// their connection is on: a challenge chain never serves HTTP.
func (l *Listener) Chain(serverName string) *FilterChain {
	return l.SelectChain(serverName, nil)
}

// SelectChain is Envoy's filter chain match for a connection with the given
// SNI (empty for plain text or a ClientHello without server_name) and the
// ALPN protocols its ClientHello offers, in the client's order. First the
// server name: the chains of the exact name, else of the longest
// "*.suffix", else those without server names. Then, among those chains
// only (Envoy does not fall back to a less specific name), the chain whose
// application_protocols holds the first offered protocol that any of them
// lists, else the one without application_protocols. Nil when nothing
// matches: the connection is closed.
func (l *Listener) SelectChain(serverName string, alpn []string) *FilterChain {
	s, ok := l.sni.lookup(lowerASCII(serverName))
	if !ok {
		return nil
	}
	return s.pick(alpn)
}

// chainSet holds the chains that share one server-name match: at most one
// without application_protocols and at most one per application protocol
// (a TLS-ALPN-01 challenge chain beside the chain it stands in front of).
type chainSet struct {
	plain   *FilterChain
	byProto map[string]*FilterChain
}

func (s *chainSet) pick(alpn []string) *FilterChain {
	for _, p := range alpn {
		if c, ok := s.byProto[p]; ok {
			return c
		}
	}
	return s.plain
}

// FilterChain is one filter_chains entry. Exactly one of HTTP, TCP and
// DirectResponse is set.
type FilterChain struct {
	Name        string
	ServerNames []string
	// ApplicationProtocols is filter_chain_match.application_protocols:
	// only ever ["acme-tls/1"], on a TLS-ALPN-01 challenge chain.
	ApplicationProtocols []string
	// TLS is set when the chain terminates TLS (a DownstreamTlsContext
	// transport socket). Certificates are the SDS secrets resolved at
	// compile time, so a certificate renewal is a new Config, not a rebind.
	TLS  *tls.Config
	HTTP *HTTPManager
	TCP  *TCPProxy
	// DirectResponse is the direct_response network filter of a
	// TLS-ALPN-01 challenge chain (RFC 8737): the TLS handshake completes
	// (presenting the validation certificate, ALPN "acme-tls/1"), then the
	// connection is closed without a byte of application data. Without TLS
	// it is a refusing chain: the connection is closed before any
	// handshake.
	DirectResponse *NetworkDirectResponse
	// MaxConnections is the connection_limit filter's max_connections:
	// open connections on this chain beyond it are closed at once. 0: no
	// chain limit (the listener-wide default of the proxy still applies).
	MaxConnections uint64
}

// NetworkDirectResponse is a compiled direct_response network filter (not
// the route action DirectResponse). Only the empty response is supported,
// so it has no fields.
type NetworkDirectResponse struct{}

// HTTPManager is a compiled http_connection_manager.
type HTTPManager struct {
	// CORS is set when the envoy.filters.http.cors filter precedes the
	// router: only then do routes' CORS policies apply.
	CORS bool

	StatPrefix            string
	RouteConfigName       string
	Routes                *RouteTable
	IdleTimeout           time.Duration // 0: not set
	RequestHeadersTimeout time.Duration // 0: not set
	StreamIdleTimeout     time.Duration // 0: not set
	Limits                HTTPLimits
	UseRemoteAddress      bool
	NormalizePath         bool
	MergeSlashes          bool
	EscapedSlashes        EscapedSlashesAction

	// MaxRequestBodyBytes is the buffer filter's max_request_bytes: a
	// request body beyond it gets 413 (or a reset once the response has
	// started); 0: unlimited. Upgrades (WebSocket) are exempt.
	MaxRequestBodyBytes uint32

	// Upgrades are the upgrade_configs upgrade_type values, lower-case
	// (e.g. "websocket"); an HTTP/1.1 Upgrade of another type gets 403.
	Upgrades []string
}

// EscapedSlashesAction mirrors path_with_escaped_slashes_action.
type EscapedSlashesAction int

const (
	EscapedSlashesKeep EscapedSlashesAction = iota
	EscapedSlashesReject
	EscapedSlashesUnescapeAndRedirect
	EscapedSlashesUnescapeAndForward
)

// TCPProxy is a compiled tcp_proxy.
type TCPProxy struct {
	StatPrefix string
	Clusters   WeightedClusters
}

// WeightedClusters picks a cluster in proportion to its weight. A single
// cluster is a one-entry table with weight 1.
type WeightedClusters struct {
	Entries []WeightedCluster
	total   uint64
}

// WeightedCluster is one entry of a WeightedClusters table.
type WeightedCluster struct {
	Name    string
	Cluster *Cluster
	Weight  uint32
	// RequestHeaders and ResponseHeaders apply only when this entry is
	// picked, before the route's own mutations (HTTP routes only).
	RequestHeaders, ResponseHeaders HeaderMutation
}

// Pick returns the cluster for the random number r (any uint64, e.g. from
// math/rand/v2). Entries with weight 0 are never picked.
func (w *WeightedClusters) Pick(r uint64) *WeightedCluster {
	if len(w.Entries) == 1 {
		return &w.Entries[0]
	}
	if w.total == 0 {
		return nil
	}
	n := r % w.total
	for i := range w.Entries {
		e := &w.Entries[i]
		if n < uint64(e.Weight) {
			return e
		}
		n -= uint64(e.Weight)
	}
	return nil
}

// ClusterType is the service discovery type of a cluster.
type ClusterType int

const (
	ClusterEDS ClusterType = iota
	ClusterStrictDNS
)

// DNSFamily mirrors dns_lookup_family.
type DNSFamily int

const (
	DNSAuto DNSFamily = iota // IPv6 preferred, as in Envoy
	DNSV4Only
	DNSV6Only
	DNSV4Preferred
	DNSAll
)

// Cluster is a compiled upstream cluster. Equal clusters let the proxy keep
// its connection pools and DNS state across configuration changes.
type Cluster struct {
	Name           string
	Type           ClusterType
	ConnectTimeout time.Duration
	// Endpoints are IP addresses for EDS clusters and host names (or IP
	// literals) to resolve for STRICT_DNS clusters.
	Endpoints      []Endpoint
	DNSRefreshRate time.Duration
	DNSFamily      DNSFamily
	// RetryBudget bounds concurrent retries (circuit_breakers).
	RetryBudget RetryBudget
	// Protocol is the HTTP version spoken to the endpoints.
	Protocol UpstreamProtocol
	// TLS originates TLS to the endpoints (transport_socket); nil: plaintext.
	TLS *UpstreamTLS
	// LocalityWeighted: locality_weighted_lb_config; Endpoints' weights
	// already include their locality's share (see localityWeights).
	LocalityWeighted bool
}

// UpstreamProtocol is the HTTP version of a cluster's upstream connections
// (typed_extension_protocol_options HttpProtocolOptions).
type UpstreamProtocol int

const (
	// UpstreamHTTP1 is HTTP/1.1, Envoy's default; it carries WebSocket
	// upgrades.
	UpstreamHTTP1 UpstreamProtocol = iota
	// UpstreamHTTP2 is HTTP/2 (explicit http2_protocol_options): h2c with
	// prior knowledge on plain connections.
	UpstreamHTTP2
)

// Endpoint is one lb_endpoint.
type Endpoint struct {
	Host   string
	Port   uint32
	Weight uint32 // load_balancing_weight, 1 when unset
	// LocalityWeight is the load_balancing_weight of the endpoint's
	// locality entry (0: unset); used only by locality-weighted clusters.
	LocalityWeight uint32
	locality       int // index of the locality entry
}

// Equal reports whether two clusters would behave identically.
func (c *Cluster) Equal(o *Cluster) bool {
	if c == o {
		return true // a Compiler's unchanged clusters are the same objects
	}
	if c == nil || o == nil {
		return c == o
	}
	if c.Name != o.Name || c.Type != o.Type || c.ConnectTimeout != o.ConnectTimeout ||
		c.DNSRefreshRate != o.DNSRefreshRate || c.DNSFamily != o.DNSFamily || c.Protocol != o.Protocol || !c.TLS.equal(o.TLS) || c.LocalityWeighted != o.LocalityWeighted || len(c.Endpoints) != len(o.Endpoints) {
		return false
	}
	for i := range c.Endpoints {
		if c.Endpoints[i] != o.Endpoints[i] {
			return false
		}
	}
	return true
}
