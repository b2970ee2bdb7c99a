package config

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// RouteTable is a compiled RouteConfiguration.
type RouteTable struct {
	Name         string
	VirtualHosts []*VirtualHost
	hosts        hostTable[*VirtualHost]
}

// VirtualHost is one virtual_hosts entry; Routes are tried in order.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []*Route
}

// Route is one compiled route. Exactly one of Forward, Redirect and Direct is
// set.
type Route struct {
	Name            string
	Match           RouteMatch
	Forward         *Forward
	Redirect        *Redirect
	Direct          *DirectResponse
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
	// CORS is the route's CORS policy (typed_per_filter_config), applied
	// only when the connection manager has the CORS filter.
	CORS *CORSPolicy
}

// Forward is a route action that proxies to a cluster.
type Forward struct {
	Clusters WeightedClusters
	// PrefixRewrite replaces the part of the path matched by the path
	// specifier when HasPrefixRewrite is set.
	PrefixRewrite    string
	HasPrefixRewrite bool
	RegexRewrite     *regexp.Regexp
	// RegexSubstitution is in Go's Expand syntax ($1), converted from
	// RE2's \1 at compile time.
	RegexSubstitution string
	HostRewrite       string
	// Timeout bounds the whole upstream exchange; 0 disables it. Envoy's
	// default of 15s applies when the route does not set one.
	Timeout time.Duration
	// PerTryTimeout bounds each attempt (retry_policy.per_try_timeout); 0:
	// only Timeout applies.
	PerTryTimeout time.Duration
	// Retry is nil when the route has no retry condition.
	Retry *RetryPolicy
	// Mirrors get a fire-and-forget copy of sampled requests.
	Mirrors []Mirror
}

// DefaultRouteTimeout is Envoy's route timeout when none is configured.
const DefaultRouteTimeout = 15 * time.Second

// DirectResponse answers without an upstream.
type DirectResponse struct {
	Status int
	Body   string
}

// Request is the part of an HTTP request that routing looks at, filled by
// the proxy once per request.
type Request struct {
	Method    string
	Authority string // Host header as received (may carry a port)
	Scheme    string // "http" or "https"
	Path      string // path without the query string, as received
	RawQuery  string // without the '?'
	Header    http.Header
}

// VirtualHost returns the virtual host for a Host header value: compared
// case-insensitively with any port stripped. Nil means 404.
func (t *RouteTable) VirtualHost(authority string) *VirtualHost {
	vh, _ := t.hosts.lookup(lowerASCII(stripPort(authority)))
	return vh
}

// Route returns the first route whose match holds, or nil (404).
func (vh *VirtualHost) Route(req *Request) *Route {
	for _, r := range vh.Routes {
		if r.Match.Matches(req) {
			return r
		}
	}
	return nil
}

// stripPort removes a trailing :port, keeping IPv6 brackets intact.
func stripPort(host string) string {
	i := len(host) - 1
	for i >= 0 && host[i] >= '0' && host[i] <= '9' {
		i--
	}
	if i < 0 || i == len(host)-1 || host[i] != ':' {
		return host
	}
	h := host[:i]
	if len(h) > 0 && h[0] == '[' {
		return h
	}
	// An unbracketed IPv6 literal has more colons; its tail is not a port.
	// Only a host with a second colon can be one, so only that is parsed:
	// net.ParseIP allocates an error for every name it rejects, and this
	// runs on every request whose Host carries a port.
	if strings.IndexByte(h, ':') >= 0 && net.ParseIP(host) != nil {
		return host
	}
	return h
}
