// Package ir is edgeway's own small model of what to serve: the output of the
// Gateway API translation and the input of the xDS translation. It is plain data
// with yaml tags; every list is in a deterministic order (see each field), so the
// same Snapshot always yields byte-identical YAML.
package ir

// IR is everything one data plane serves.
type IR struct {
	// Listeners are the bound sockets, sorted by Name.
	Listeners []*Listener `yaml:"listeners,omitempty"`
	// RouteTables are HTTP route tables referenced by listeners, sorted by Name.
	RouteTables []*RouteTable `yaml:"routeTables,omitempty"`
	// Clusters are upstream backends referenced by routes, sorted by Name.
	Clusters []*Cluster `yaml:"clusters,omitempty"`
	// Secrets are certificates referenced by TLS chains, sorted by Name.
	Secrets []*Secret `yaml:"secrets,omitempty"`
}

// Listener is one bound socket: an address and port. Gateway listeners of several
// Gateways or several Gateway listeners that share address and port are merged
// into one Listener (for TLS: one chain per SNI set).
// Exactly one of HTTP, TLS, TCP is set.
type Listener struct {
	// Name is "<address>:<port>", e.g. "0.0.0.0:8080".
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	Port    uint32 `yaml:"port"`
	// Gateways lists the "<namespace>/<name>" of every Gateway contributing to
	// this socket, sorted. Used to split the IR per data plane.
	Gateways []string `yaml:"gateways"`

	// HTTP is plaintext HTTP: one route table for the whole socket.
	HTTP *HTTPChain `yaml:"http,omitempty"`
	// TLS are SNI-dispatched chains: HTTPS termination or TLS passthrough.
	// Sorted by Name. At most one chain has empty ServerNames (the default).
	TLS []*TLSChain `yaml:"tls,omitempty"`
	// TCP is plaintext TCP proxying.
	TCP *TCPChain `yaml:"tcp,omitempty"`
	// UDP is datagram proxying on a UDP socket. Its Name is
	// "<address>:<port>/udp", so it may share the port number with a TCP listener.
	UDP *UDPChain `yaml:"udp,omitempty"`
	// ProxyProtocol: every connection starts with a PROXY protocol v1/v2
	// header from a load balancer naming the real client (TCP-based
	// sockets only; set from the Gateway annotation
	// gateway.edgeway.dev/proxy-protocol).
	ProxyProtocol bool `yaml:"proxyProtocol,omitempty"`
}

// HTTPChain serves HTTP with the named route table.
type HTTPChain struct {
	// RouteTable is the Name of a RouteTable in IR.RouteTables.
	RouteTable string `yaml:"routeTable"`
	// MaxRequestBodyBytes bounds every request body on this chain (413
	// beyond it); 0: unlimited. Set from the Gateway annotation
	// gateway.edgeway.dev/max-request-body-bytes.
	MaxRequestBodyBytes uint32 `yaml:"maxRequestBodyBytes,omitempty"`
}

// TLSChain is selected by the client's SNI. Exactly one of Terminate,
// Passthrough, ACMEChallenge and Refuse is set.
type TLSChain struct {
	// Name is unique within the listener, e.g. "https/foo.example.com" or "passthrough/bar.example.com".
	Name string `yaml:"name"`
	// ServerNames are SNI matches: exact ("foo.example.com") or wildcard
	// ("*.example.com"). Empty means "any SNI, including none". Sorted.
	ServerNames []string `yaml:"serverNames,omitempty"`

	Terminate   *TLSTerminate `yaml:"terminate,omitempty"`
	Passthrough *TCPChain     `yaml:"passthrough,omitempty"`
	// ACMEChallenge answers ACME TLS-ALPN-01 validation (RFC 8737). Such a
	// chain has exactly one exact ServerName, neither Terminate nor
	// Passthrough, and is selected only for a client that offers ALPN
	// "acme-tls/1" with that SNI: other clients with the same SNI get the
	// chain they would get without it.
	ACMEChallenge *ACMEChallenge `yaml:"acmeChallenge,omitempty"`
	// Refuse closes every connection whose SNI selects the chain, before
	// any TLS handshake. SNI selection takes the most specific server name
	// and never falls back, so a refusing chain for a listener's hostname
	// keeps its clients from reaching a less specific chain of another
	// listener (a wildcard passthrough, say) when the listener itself has
	// nothing to serve. Its Name is "refuse/<server name>".
	Refuse bool `yaml:"refuse,omitempty"`
}

// ACMEChallenge presents the RFC 8737 validation certificate, negotiates
// ALPN "acme-tls/1", completes the handshake and closes the connection.
// Its Name is "acme-tls-alpn/<domain>".
type ACMEChallenge struct {
	// Certificate is the Name of a Secret in IR.Secrets (certificate and
	// key): "acme-tls-alpn/<namespace>/<certificate Secret>/<domain>".
	Certificate string `yaml:"certificate"`
}

// ACMEChallengePathPrefix is where HTTP-01 tokens are served (RFC 8555
// section 8.3). The translator puts one Exact route per token, answering
// with a DirectResponse 200 whose Body is the key authorization, first in
// the virtual host that the challenge's domain selects on every plain HTTP
// listener of the Gateways that declare the domain (a virtual host with only
// that domain when none selects it).
const ACMEChallengePathPrefix = "/.well-known/acme-challenge/"

// TLSTerminate terminates TLS with the given certificates and serves HTTP
// (HTTPS listeners) or proxies the decrypted stream (TLS listeners in
// Terminate mode). Exactly one of HTTP and TCP is set.
type TLSTerminate struct {
	// Certificates are Names of Secrets in IR.Secrets, in listener certificateRefs order.
	Certificates []string `yaml:"certificates"`
	// ClientValidation asks clients for a certificate and verifies it
	// (Gateway spec.tls.frontend); nil: no client certificates.
	ClientValidation *ClientValidation `yaml:"clientValidation,omitempty"`
	// HTTP is the route table served on the decrypted stream.
	HTTP *HTTPChain `yaml:"http,omitempty"`
	// TCP proxies the decrypted stream (TLSRoute on a Terminate listener).
	TCP *TCPChain `yaml:"tcp,omitempty"`
}

// TCPChain proxies a byte stream to one of the weighted backends.
type TCPChain struct {
	// Backends, in route order. A weight of 0 never receives traffic.
	Backends []WeightedCluster `yaml:"backends"`
}

// RouteTable is what an HTTP chain routes by: virtual hosts selected by the
// Host header, then routes in order, first match wins.
type RouteTable struct {
	Name string `yaml:"name"`
	// VirtualHosts sorted by Name. Domains do not repeat across virtual hosts.
	VirtualHosts []*VirtualHost `yaml:"virtualHosts,omitempty"`
}

// VirtualHost groups routes for a set of domains.
type VirtualHost struct {
	Name string `yaml:"name"`
	// Domains: exact ("foo.example.com"), wildcard ("*.example.com") or "*". Sorted.
	Domains []string `yaml:"domains"`
	// Routes in precedence order: the first route whose Match matches wins
	// (Gateway API precedence already applied by the translator).
	Routes []*Route `yaml:"routes,omitempty"`
}

// Route is one (rule, match) pair of an HTTPRoute. Exactly one of Forward,
// Redirect and DirectResponse is set.
type Route struct {
	// Name is "<namespace>/<route>/rule/<i>/match/<j>", with the rule's
	// name instead of <i> when the rule has one.
	Name  string     `yaml:"name"`
	Match RouteMatch `yaml:"match"`

	Forward        *Forward        `yaml:"forward,omitempty"`
	Redirect       *Redirect       `yaml:"redirect,omitempty"`
	DirectResponse *DirectResponse `yaml:"directResponse,omitempty"`

	// RequestHeaders modify the request before it is forwarded.
	RequestHeaders *HeaderModifier `yaml:"requestHeaders,omitempty"`
	// ResponseHeaders modify the response before it is returned.
	ResponseHeaders *HeaderModifier `yaml:"responseHeaders,omitempty"`
	// CORS answers preflights and decorates responses to allowed origins.
	CORS *CORS `yaml:"cors,omitempty"`
}

// PathMatchType mirrors Gateway API path match types.
type PathMatchType string

const (
	PathExact  PathMatchType = "Exact"
	PathPrefix PathMatchType = "PathPrefix" // segment-aware: "/foo" matches "/foo", "/foo/", "/foo/bar", not "/foobar"
	PathRegex  PathMatchType = "RegularExpression"
)

// StringMatchType is how a header or query value is compared.
type StringMatchType string

const (
	MatchExact StringMatchType = "Exact"
	MatchRegex StringMatchType = "RegularExpression" // RE2, full match
)

// RouteMatch: all set conditions must hold.
type RouteMatch struct {
	// Path is nil only if the route matches every path (never emitted by the
	// translator: it uses PathPrefix "/" as Gateway API defaults).
	Path        *PathMatch    `yaml:"path,omitempty"`
	Headers     []StringMatch `yaml:"headers,omitempty"`     // names are lower-case
	QueryParams []StringMatch `yaml:"queryParams,omitempty"` // names are case-sensitive
	Method      string        `yaml:"method,omitempty"`
}

type PathMatch struct {
	Type  PathMatchType `yaml:"type"`
	Value string        `yaml:"value"`
}

type StringMatch struct {
	Name  string          `yaml:"name"`
	Type  StringMatchType `yaml:"type"`
	Value string          `yaml:"value"`
}

// Forward sends the request to one of the weighted backends.
type Forward struct {
	// Backends in route order. If every weight is 0 the translator emits a
	// DirectResponse 500 instead.
	Backends []WeightedCluster `yaml:"backends"`
	// Rewrite is applied to the forwarded request.
	Rewrite *URLRewrite `yaml:"rewrite,omitempty"`
	// Timeouts bound the request; nil: the data plane defaults.
	Timeouts *Timeouts `yaml:"timeouts,omitempty"`
	// Retry re-sends failed attempts; nil: no retries.
	Retry *Retry `yaml:"retry,omitempty"`
	// Mirrors receive a copy of each request (fire-and-forget), in filter order.
	Mirrors []Mirror `yaml:"mirrors,omitempty"`
}

// Timeouts is Gateway API's HTTPRouteTimeouts, in milliseconds. A nil field
// is unset; a zero value disables the timeout.
type Timeouts struct {
	// RequestMillis bounds the whole request, every retry included.
	RequestMillis *uint64 `yaml:"requestMillis,omitempty"`
	// BackendRequestMillis bounds each attempt to a backend.
	BackendRequestMillis *uint64 `yaml:"backendRequestMillis,omitempty"`
}

// Retry is Gateway API's HTTPRouteRetry. Connection failures, resets and
// per-attempt timeouts are always retried; responses with one of Codes too.
type Retry struct {
	// Codes are retriable response status codes, sorted, unique.
	Codes []uint32 `yaml:"codes,omitempty"`
	// Attempts is the maximum number of retries (not counting the first try).
	Attempts uint32 `yaml:"attempts"`
	// BackoffMillis is the minimum wait before a retry; 0: the data plane default.
	BackoffMillis uint64 `yaml:"backoffMillis,omitempty"`
}

// Mirror is Gateway API's RequestMirror filter: a copy of the request goes
// to Cluster for Numerator/Denominator of the requests (Denominator 0: all).
type Mirror struct {
	Cluster     string `yaml:"cluster"`
	Numerator   uint32 `yaml:"numerator,omitempty"`
	Denominator uint32 `yaml:"denominator,omitempty"`
}

// CORS is Gateway API's HTTPCORSFilter.
type CORS struct {
	// AllowOrigins: "*", an exact origin ("https://a.example"), or one with
	// a wildcard host label ("https://*.example.com"), in filter order.
	AllowOrigins     []string `yaml:"allowOrigins,omitempty"`
	AllowMethods     []string `yaml:"allowMethods,omitempty"`
	AllowHeaders     []string `yaml:"allowHeaders,omitempty"`
	ExposeHeaders    []string `yaml:"exposeHeaders,omitempty"`
	MaxAgeSeconds    int32    `yaml:"maxAgeSeconds,omitempty"`
	AllowCredentials bool     `yaml:"allowCredentials,omitempty"`
}

// WeightedCluster names a Cluster in IR.Clusters and its share of traffic.
type WeightedCluster struct {
	Cluster string `yaml:"cluster"`
	Weight  uint32 `yaml:"weight"`
	// RequestHeaders / ResponseHeaders are the backendRef's own header
	// filters, applied only when this backend is picked (HTTP routes only),
	// before the route's.
	RequestHeaders  *HeaderModifier `yaml:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderModifier `yaml:"responseHeaders,omitempty"`
}

// URLRewrite is Gateway API's URLRewrite filter.
type URLRewrite struct {
	// Hostname replaces the Host header.
	Hostname string `yaml:"hostname,omitempty"`
	// FullPath replaces the whole path (query string kept).
	FullPath *string `yaml:"fullPath,omitempty"`
	// PrefixMatch: replace the matched path prefix (Route.Match.Path, which is
	// then a PathPrefix) with this value, Gateway API ReplacePrefixMatch semantics.
	ReplacePrefixMatch *string `yaml:"replacePrefixMatch,omitempty"`
}

// Redirect is Gateway API's RequestRedirect filter. Empty fields keep the
// request's value.
type Redirect struct {
	Scheme   string  `yaml:"scheme,omitempty"`
	Hostname string  `yaml:"hostname,omitempty"`
	Port     *uint32 `yaml:"port,omitempty"`
	// FullPath / ReplacePrefixMatch as in URLRewrite.
	FullPath           *string `yaml:"fullPath,omitempty"`
	ReplacePrefixMatch *string `yaml:"replacePrefixMatch,omitempty"`
	StatusCode         int     `yaml:"statusCode"` // 301 or 302 (Gateway API also allows 303, 307, 308)
}

// DirectResponse answers without an upstream (e.g. 500 for a rule whose
// backends are all invalid, as Gateway API requires).
type DirectResponse struct {
	StatusCode int    `yaml:"statusCode"`
	Body       string `yaml:"body,omitempty"`
}

// HeaderModifier is Gateway API's HTTPHeaderFilter.
type HeaderModifier struct {
	Set    []Header `yaml:"set,omitempty"`
	Add    []Header `yaml:"add,omitempty"`
	Remove []string `yaml:"remove,omitempty"`
}

type Header struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// DiscoveryType says how a cluster's endpoints are found.
type DiscoveryType string

const (
	// DiscoveryEDS: Endpoints are IP addresses, published over EDS.
	DiscoveryEDS DiscoveryType = "EDS"
	// DiscoveryDNS: Endpoints are hostnames the data plane resolves and
	// re-resolves (every resolved address is an endpoint).
	DiscoveryDNS DiscoveryType = "DNS"
)

// Cluster is one upstream: a (backend object, port) pair.
// HTTP2TwinSuffix ends the name of a cluster's HTTP/2 twin: the same backend
// as the cluster named without it, spoken to in HTTP/2 (a GRPCRoute's
// backend whose port does not say HTTP/2). What applies to a backend (its
// BackendTLSPolicy, its mesh mTLS, its NetworkPolicy peers) applies to both.
const HTTP2TwinSuffix = "/http2"

type Cluster struct {
	// Name is "<kind>/<namespace>/<name>/<port>", kind lower-case:
	// "service/default/echo/8080", "serviceentry/default/ext/443"; an
	// HTTP/2 twin adds HTTP2TwinSuffix to the name of the cluster it twins.
	Name      string        `yaml:"name"`
	Discovery DiscoveryType `yaml:"discovery"`
	// Endpoints sorted by Address, then Port. May be empty (no ready endpoints:
	// the data plane answers 503).
	Endpoints []Endpoint `yaml:"endpoints,omitempty"`
	// ConnectTimeoutMillis for upstream connections; 0 means the default (5000).
	ConnectTimeoutMillis uint32 `yaml:"connectTimeoutMillis,omitempty"`
	// TLS originates TLS to the endpoints (BackendTLSPolicy); nil: plaintext.
	TLS *UpstreamTLS `yaml:"tls,omitempty"`
	// Protocol is the HTTP version spoken to the endpoints; "" is HTTP/1.1.
	Protocol UpstreamProtocol `yaml:"protocol,omitempty"`
	// MeshInternal: the endpoints are mesh workloads (a ServiceEntry with
	// location MESH_INTERNAL), as opposed to hosts outside the mesh.
	MeshInternal bool `yaml:"meshInternal,omitempty"`
}

// UpstreamProtocol is the HTTP version of a cluster's upstream connections,
// from the backend port (Service appProtocol, ServiceEntry port protocol) or
// implied by the route kind (GRPCRoute).
type UpstreamProtocol string

const (
	// ProtocolHTTP1 is HTTP/1.1 (the default); it carries WebSocket upgrades.
	ProtocolHTTP1 UpstreamProtocol = ""
	// ProtocolHTTP2 is HTTP/2: h2c with prior knowledge on plaintext
	// connections (h2 via ALPN when the cluster has TLS).
	ProtocolHTTP2 UpstreamProtocol = "HTTP2"
)

type Endpoint struct {
	Address string `yaml:"address"` // IP for EDS, hostname for DNS
	Port    uint32 `yaml:"port"`
	Weight  uint32 `yaml:"weight,omitempty"` // 0 means 1
}

// Secret is a TLS certificate and key, in PEM, or (TrustedCA) a bundle of CA
// certificates to validate peers with: exactly one of the two.
type Secret struct {
	// Name is "<namespace>/<name>" of the Kubernetes Secret; CA bundles are
	// named as in ClientValidation.CACertificates.
	Name       string `yaml:"name"`
	CertChain  string `yaml:"certChain,omitempty"`
	PrivateKey string `yaml:"privateKey,omitempty"`
	// TrustedCA is a PEM bundle of CA certificates.
	TrustedCA string `yaml:"trustedCA,omitempty"`
}
