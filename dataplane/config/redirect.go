package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Redirect is a compiled redirect action. Empty fields keep the request's
// value.
type Redirect struct {
	Scheme           string
	Host             string
	Port             uint32
	Path             string // path_redirect
	PrefixRewrite    string
	HasPrefixRewrite bool
	// RegexRewrite and RegexSubstitution (Go Expand syntax) rewrite the
	// request path, as for Forward.
	RegexRewrite      *regexp.Regexp
	RegexSubstitution string
	Code              int
}

// Location builds the Location header for req, which matched m. The query
// string is kept (path_redirect may bring its own). When the scheme changes
// and no port is configured, the port is dropped so the new scheme's default
// applies; a port equal to the scheme's default is never written.
func (r *Redirect) Location(req *Request, m *RouteMatch) string {
	scheme := req.Scheme
	if r.Scheme != "" {
		scheme = strings.ToLower(r.Scheme)
	}
	host, port := splitAuthority(req.Authority)
	if r.Host != "" {
		host = r.Host
	}
	switch {
	case r.Port != 0:
		port = strconv.FormatUint(uint64(r.Port), 10)
	case scheme != req.Scheme:
		port = ""
	}
	if port == defaultPort(scheme) {
		port = ""
	}
	path, query := req.Path, req.RawQuery
	switch {
	case r.Path != "":
		p, q, hasQuery := strings.Cut(r.Path, "?")
		path = p
		if hasQuery {
			query = q
		}
	case r.HasPrefixRewrite:
		path = rewritePrefix(m, req.Path, r.PrefixRewrite)
	case r.RegexRewrite != nil:
		path = r.RegexRewrite.ReplaceAllString(req.Path, r.RegexSubstitution)
	}
	var b strings.Builder
	b.Grow(len(scheme) + len(host) + len(port) + len(path) + len(query) + 6)
	b.WriteString(scheme)
	b.WriteString("://")
	if port != "" {
		b.WriteString(net.JoinHostPort(strings.Trim(host, "[]"), port))
	} else {
		b.WriteString(host)
	}
	b.WriteString(path)
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// splitAuthority splits a Host header into host and port ("" if absent).
func splitAuthority(authority string) (host, port string) {
	h := stripPort(authority)
	if len(h) == len(authority) {
		return authority, ""
	}
	return h, authority[len(h)+1:]
}
