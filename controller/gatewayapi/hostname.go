package gatewayapi

import (
	"fmt"
	"sort"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// anyHost is the domain of a route that matches every host: a listener without
// hostname and a route without hostnames. It is Envoy's catch-all domain.
const anyHost = "*"

// pattern turns a listener hostname ("" = any) into a host pattern.
func pattern(listenerHostname string) string {
	if listenerHostname == "" {
		return anyHost
	}
	return listenerHostname
}

func isWildcard(h string) bool { return strings.HasPrefix(h, "*.") }

// covers reports whether host pattern p matches every host that host pattern h
// matches. A wildcard matches one or more labels ("*.example.com" covers
// "a.b.example.com" and "*.b.example.com", not "example.com").
func covers(p, h string) bool {
	switch {
	case p == anyHost || p == h:
		return true
	case h == anyHost:
		return false
	case isWildcard(p):
		return strings.HasSuffix(h, p[1:]) && len(h) > len(p)-1
	}
	return false
}

// intersect is the Gateway API hostname intersection of a listener hostname
// ("" = any) and one route hostname: the more specific of the two if one
// covers the other, else "" (no intersection).
func intersect(listenerHostname, routeHostname string) string {
	l, r := pattern(listenerHostname), strings.ToLower(routeHostname)
	switch {
	case covers(l, r):
		return r
	case covers(r, l):
		return l
	}
	return ""
}

// unservableHostname says why a hostname the Gateway API schema accepts
// cannot be served ("" if it can): the schema checks the characters, not
// the length of each label, and the IR (like DNS, RFC 1123) refuses a
// label longer than 63 characters.
func unservableHostname(h string) string {
	if h == "" || h == "*" || ir.ValidServerName(strings.ToLower(h)) {
		return ""
	}
	return fmt.Sprintf("%q is not a host name edgeway can serve: each label (between dots) must be 1-63 characters", h)
}

// effectiveHostnames are the domains a route serves on a listener: the
// intersections of the route's hostnames with the listener's, sorted. A route
// without hostnames serves the listener's hostname (or anyHost). Empty means
// no intersection: the route does not attach to this listener.
func effectiveHostnames(listenerHostname string, routeHostnames []gwv1.Hostname) []string {
	if len(routeHostnames) == 0 {
		return []string{pattern(listenerHostname)}
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range routeHostnames {
		if d := intersect(listenerHostname, string(h)); d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// moreSpecific orders host patterns from most to least specific: exact names,
// then wildcards with more labels (dots) to the right of the "*", then
// anyHost. Ties are broken alphabetically so the order is total.
func moreSpecific(a, b string) bool {
	ra, rb := specificity(a), specificity(b)
	if ra != rb {
		return ra > rb
	}
	return a < b
}

func specificity(h string) int {
	switch {
	case h == anyHost:
		return 0
	case isWildcard(h):
		return 1 + strings.Count(h, ".")
	}
	return 1 << 20
}
