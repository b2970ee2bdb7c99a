package ir

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Validate checks the structural invariants the xDS translator relies on:
// unique names, every referenced route table, cluster and secret exists,
// exactly-one-of fields, ports, weights, status codes and regular expressions.
// It does not check the sort orders documented on the types (the translator
// sorts its output itself).
//
// Every problem is reported, not just the first: the returned error joins one
// error per problem, each naming the object and the field, e.g.
//
//	listeners["0.0.0.0:80"].http.routeTable: route table "x" does not exist
//
// A failing IR is a bug in whatever produced it (the Gateway API translator
// turns invalid input into conditions, never into invalid IR), so the caller
// should keep serving the previous IR and surface the error.
func (x *IR) Validate() error {
	return x.validate(nil)
}

// validate is Validate, skipping the checks of the virtual hosts prev
// (nil: none) says passed them (validate_memo.go).
func (x *IR) validate(prev *Validated) error {
	if x == nil {
		return errors.New("ir: nil IR")
	}
	v := &validator{
		routeTables: map[string]bool{},
		clusters:    map[string]bool{},
		secrets:     map[string]bool{},
	}
	v.prev = prev.forClusters(x.Clusters)
	// Index the referenced objects first so listeners and routes can be
	// checked against them regardless of order.
	for i, s := range x.Secrets {
		v.secret(i, s)
	}
	for i, c := range x.Clusters {
		v.cluster(i, c)
	}
	for i, rt := range x.RouteTables {
		if rt == nil {
			v.addf("routeTables[%d]: nil route table", i)
			continue
		}
		if rt.Name == "" {
			v.addf("routeTables[%d].name: must not be empty", i)
			continue
		}
		if v.routeTables[rt.Name] {
			v.addf("routeTables[%q].name: duplicate route table name", rt.Name)
		}
		v.routeTables[rt.Name] = true
	}
	for _, rt := range x.RouteTables {
		if rt != nil && rt.Name != "" {
			v.routeTable(rt)
		}
	}
	sockets := map[string]string{}
	names := map[string]bool{}
	for i, l := range x.Listeners {
		if l == nil {
			v.addf("listeners[%d]: nil listener", i)
			continue
		}
		if l.Name == "" {
			v.addf("listeners[%d].name: must not be empty", i)
			continue
		}
		if names[l.Name] {
			v.addf("listeners[%q].name: duplicate listener name", l.Name)
		}
		names[l.Name] = true
		socket := fmt.Sprintf("%s:%d", l.Address, l.Port)
		if l.UDP != nil {
			socket += "/udp" // UDP and TCP sockets may share a port number
		}
		if other, ok := sockets[socket]; ok && other != l.Name {
			v.addf("listeners[%q]: address %s and port %d already used by listener %q", l.Name, l.Address, l.Port, other)
		}
		sockets[socket] = l.Name
		v.listener(l)
	}
	return errors.Join(v.errs...)
}

// validator accumulates problems and the name sets of referenced objects.
type validator struct {
	errs        []error
	routeTables map[string]bool
	clusters    map[string]bool
	secrets     map[string]bool
	caSecrets   map[string]bool // secrets holding a CA bundle (TrustedCA)
	// prev are the route tables' virtual hosts that passed their checks
	// against the same cluster names; nil: none (validate_memo.go).
	prev *Validated
	// reused counts the virtual hosts whose checks prev spared (tests).
	reused int
	// noRefs skips the checks that references exist (ValidateRoute).
	noRefs bool
	// compiled skips compiling regular expressions (ValidateRoute: the
	// translator compiled each one it made, with the same package).
	compiled bool
}

// ValidateRoute runs Validate's checks of one route, but for whether the
// clusters it names exist and whether its regular expressions compile
// (the translator compiles each one it makes). The translator calls it on each route it
// builds: a route Validate would refuse is the translator's own gap, and
// this turns it into a dropped rule reported on its object instead of an
// IR that Validate refuses whole (every Gateway's changes stopped with it).
func ValidateRoute(r *Route) error {
	v := validator{noRefs: true, compiled: true}
	v.route(routeLoc, r)
	return errors.Join(v.errs...)
}

// routeLoc is where ValidateRoute's problems are: made once, it is per
// route at thousands of routes.
var routeLoc = root.f("route")

func (v *validator) addf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) listener(l *Listener) {
	at := root.key("listeners", l.Name)
	if _, err := netip.ParseAddr(l.Address); err != nil {
		v.addf("%s.address: %q is not an IP address", at.String(), l.Address)
	}
	v.port(at.f(".port"), l.Port)

	set := 0
	if l.HTTP != nil {
		set++
		v.httpChain(at.f(".http"), l.HTTP)
	}
	if len(l.TLS) > 0 {
		set++
		v.tlsChains(at, l.TLS)
	}
	if l.TCP != nil {
		set++
		v.weighted(at.f(".tcp.backends"), l.TCP.Backends)
	}
	if l.UDP != nil {
		set++
		v.weighted(at.f(".udp.backends"), l.UDP.Backends)
	}
	if set != 1 {
		v.addf("%s: exactly one of http, tls, tcp, udp must be set, found %d", at.String(), set)
	}
}

func (v *validator) httpChain(at *loc, h *HTTPChain) {
	if h == nil {
		v.addf("%s: must be set", at.String())
		return
	}
	if !v.routeTables[h.RouteTable] {
		v.addf("%s.routeTable: route table %q does not exist", at.String(), h.RouteTable)
	}
}

func (v *validator) tlsChains(listenerAt *loc, chains []*TLSChain) {
	names := map[string]bool{}
	// sni maps each server name to the chain using it: a name on two chains
	// (or two chains without names) would make SNI dispatch ambiguous, which
	// Envoy rejects as duplicate filter chain matches. ACME TLS-ALPN-01
	// chains are matched on SNI and ALPN acme-tls/1 together, so they have
	// their own map: one may share its name with a terminating chain.
	sni := map[string]string{}
	acmeSNI := map[string]string{}
	for i, c := range chains {
		if c == nil {
			v.addf("%s.tls[%d]: nil chain", listenerAt.String(), i)
			continue
		}
		at := listenerAt.key(".tls", c.Name)
		if c.Name == "" {
			at = listenerAt.idx(".tls", i)
			v.addf("%s.name: must not be empty", at.String())
		} else if names[c.Name] {
			v.addf("%s.name: duplicate chain name", at.String())
		}
		names[c.Name] = true

		set := 0
		for _, present := range []bool{c.Terminate != nil, c.Passthrough != nil, c.ACMEChallenge != nil, c.Refuse} {
			if present {
				set++
			}
		}
		if set != 1 {
			v.addf("%s: exactly one of terminate, passthrough, acmeChallenge, refuse must be set, found %d", at.String(), set)
			continue
		}
		if c.ACMEChallenge != nil {
			v.acmeChallenge(at, c, acmeSNI)
			continue
		}

		keys := c.ServerNames
		if len(keys) == 0 {
			keys = []string{""} // the default chain
		}
		for _, sn := range keys {
			if sn != "" && !validServerName(sn) {
				v.addf("%s.serverNames: %q is not a host name or a *.suffix wildcard", at.String(), sn)
			}
			if other, ok := sni[sn]; ok {
				if sn == "" {
					v.addf("%s.serverNames: chain %q already is the default chain (empty serverNames)", at.String(), other)
				} else {
					v.addf("%s.serverNames: %q already used by chain %q", at.String(), sn, other)
				}
				continue
			}
			sni[sn] = c.Name
		}
		switch {
		case c.Terminate != nil:
			v.terminate(at.f(".terminate"), c.Terminate)
		case c.Passthrough != nil:
			v.weighted(at.f(".passthrough.backends"), c.Passthrough.Backends)
		}
	}
}

func (v *validator) terminate(at *loc, t *TLSTerminate) {
	if len(t.Certificates) == 0 {
		v.addf("%s.certificates: at least one certificate is required", at.String())
	}
	seen := map[string]bool{}
	for _, name := range t.Certificates {
		if !v.secrets[name] {
			v.addf("%s.certificates: secret %q does not exist", at.String(), name)
		}
		if seen[name] {
			v.addf("%s.certificates: secret %q listed twice", at.String(), name)
		}
		seen[name] = true
	}
	v.terminateTLS(at, t)
}

// weighted checks a backend list: every cluster exists and at least one
// weight is positive (an all-zero list must have been turned into a 500 by
// the translator; there is nothing to proxy to).
func (v *validator) weighted(at *loc, backends []WeightedCluster) {
	if len(backends) == 0 {
		v.addf("%s: at least one backend is required", at.String())
		return
	}
	var total uint64
	for i, b := range backends {
		if !v.noRefs && !v.clusters[b.Cluster] {
			v.addf("%s[%d].cluster: cluster %q does not exist", at.String(), i, b.Cluster)
		}
		total += uint64(b.Weight)
	}
	if total == 0 {
		v.addf("%s: every weight is 0; use a directResponse instead", at.String())
	} else if total > 1<<32-1 {
		v.addf("%s: the sum of the weights %d exceeds %d", at.String(), total, uint64(1<<32-1))
	}
}

func (v *validator) routeTable(rt *RouteTable) {
	at := root.key("routeTables", rt.Name)
	// Without a map when the names are in order, each the only domain of
	// its virtual host: then no name or domain can be taken twice. Else
	// sized up front: at thousands of virtual hosts, growing them was most
	// of a route table's validation.
	var (
		vhosts  map[string]bool
		domains map[string]string
	)
	if !namesInOrder(rt.VirtualHosts) {
		vhosts = make(map[string]bool, len(rt.VirtualHosts))
		domains = make(map[string]string, len(rt.VirtualHosts))
	}
	passed := v.prev.passed(rt.Name)
	for i, vh := range rt.VirtualHosts {
		if vh == nil {
			v.addf("%s.virtualHosts[%d]: nil virtual host", at.String(), i)
			continue
		}
		skip := passed.find(vh)
		vat := at.key(".virtualHosts", vh.Name)
		if vh.Name == "" {
			vat = at.idx(".virtualHosts", i)
			v.addf("%s.name: must not be empty", vat.String())
		} else if vhosts[vh.Name] {
			v.addf("%s.name: duplicate virtual host name", vat.String())
		}
		if vhosts != nil {
			vhosts[vh.Name] = true
		}
		if len(vh.Domains) == 0 {
			v.addf("%s.domains: at least one domain is required", vat.String())
		}
		for _, d := range vh.Domains {
			if !skip && d != "*" && !validServerName(d) {
				v.addf("%s.domains: %q is not a host name, a *.suffix wildcard or *", vat.String(), d)
			}
			if domains == nil {
				continue
			}
			// Envoy rejects a route configuration in which two virtual hosts
			// claim the same domain.
			if other, ok := domains[d]; ok {
				v.addf("%s.domains: %q already used by virtual host %q", vat.String(), d, other)
				continue
			}
			domains[d] = vh.Name
		}
		if skip {
			v.reused++
			continue
		}
		for j, r := range vh.Routes {
			if r == nil {
				v.addf("%s.routes[%d]: nil route", vat.String(), j)
				continue
			}
			v.route(vat.idx(".routes", j), r)
		}
	}
}

func (v *validator) route(at *loc, r *Route) {
	v.match(at.f(".match"), &r.Match)
	set := 0
	if r.Forward != nil {
		set++
		v.weighted(at.f(".forward.backends"), r.Forward.Backends)
		if rw := r.Forward.Rewrite; rw != nil {
			v.pathModifier(at.f(".forward.rewrite"), r.Match.Path, rw.FullPath, rw.ReplacePrefixMatch)
			if rw.Hostname != "" && !validHostname(rw.Hostname) {
				v.addf("%s.forward.rewrite.hostname: %q is not a host name", at.String(), rw.Hostname)
			}
		}
	}
	if r.Redirect != nil {
		set++
		v.redirect(at.f(".redirect"), r)
	}
	if r.DirectResponse != nil {
		set++
		if c := r.DirectResponse.StatusCode; c < 200 || c > 599 {
			v.addf("%s.directResponse.statusCode: %d is not in 200-599", at.String(), c)
		}
	}
	if set != 1 {
		v.addf("%s: exactly one of forward, redirect, directResponse must be set, found %d", at.String(), set)
	}
	v.headerModifier(at.f(".requestHeaders"), r.RequestHeaders)
	v.headerModifier(at.f(".responseHeaders"), r.ResponseHeaders)
	v.routeFeatures(at, r)
}

func (v *validator) match(at *loc, m *RouteMatch) {
	if p := m.Path; p != nil {
		switch p.Type {
		case PathExact, PathPrefix:
			if !strings.HasPrefix(p.Value, "/") {
				v.addf("%s.path.value: %q must start with /", at.String(), p.Value)
			}
			if strings.ContainsAny(p.Value, "?#") {
				v.addf("%s.path.value: %q must not contain ? or #", at.String(), p.Value)
			}
		case PathRegex:
			v.regex(at.f(".path.value"), p.Value)
		default:
			v.addf("%s.path.type: unknown path match type %q (want %s, %s or %s)", at.String(), p.Type, PathExact, PathPrefix, PathRegex)
		}
	}
	for i, h := range m.Headers {
		hat := at.idx(".headers", i)
		if !validHeaderName(h.Name) {
			v.addf("%s.name: %q is not a valid header name", hat.String(), h.Name)
		} else if h.Name != strings.ToLower(h.Name) {
			v.addf("%s.name: %q must be lower-case", hat.String(), h.Name)
		}
		v.stringMatch(hat, h)
	}
	for i, q := range m.QueryParams {
		qat := at.idx(".queryParams", i)
		if q.Name == "" {
			v.addf("%s.name: must not be empty", qat.String())
		}
		v.stringMatch(qat, q)
	}
	if m.Method != "" && !validToken(m.Method) {
		v.addf("%s.method: %q is not an HTTP method token", at.String(), m.Method)
	}
}

func (v *validator) stringMatch(at *loc, s StringMatch) {
	switch s.Type {
	case MatchExact:
	case MatchRegex:
		v.regex(at.f(".value"), s.Value)
	default:
		v.addf("%s.type: unknown match type %q (want %s or %s)", at.String(), s.Type, MatchExact, MatchRegex)
	}
}

// regex checks that the expression compiles as RE2, the syntax Envoy's
// safe_regex and the data plane both use (Go's regexp is RE2).
func (v *validator) regex(at *loc, expr string) {
	if expr == "" {
		v.addf("%s: regular expression must not be empty", at.String())
		return
	}
	if v.compiled {
		return
	}
	if _, err := regexp.Compile(expr); err != nil {
		v.addf("%s: invalid regular expression: %v", at.String(), err)
	}
}

// pathModifier checks the FullPath / ReplacePrefixMatch pair shared by
// URLRewrite and Redirect.
func (v *validator) pathModifier(at *loc, path *PathMatch, fullPath, replacePrefix *string) {
	if fullPath != nil && replacePrefix != nil {
		v.addf("%s: at most one of fullPath, replacePrefixMatch may be set", at.String())
	}
	if fullPath != nil && (!strings.HasPrefix(*fullPath, "/") || strings.ContainsAny(*fullPath, "?#")) {
		v.addf("%s.fullPath: %q must start with / and contain no ? or #", at.String(), *fullPath)
	}
	if replacePrefix != nil {
		// Empty means "/" (Gateway API: the matched prefix is removed).
		if *replacePrefix != "" && (!strings.HasPrefix(*replacePrefix, "/") || strings.ContainsAny(*replacePrefix, "?#")) {
			v.addf("%s.replacePrefixMatch: %q must be empty or start with / and contain no ? or #", at.String(), *replacePrefix)
		}
		if path == nil || path.Type != PathPrefix {
			v.addf("%s.replacePrefixMatch: requires a PathPrefix path match", at.String())
		}
	}
}

func (v *validator) redirect(at *loc, r *Route) {
	rd := r.Redirect
	switch rd.StatusCode {
	case 301, 302, 303, 307, 308:
	default:
		v.addf("%s.statusCode: %d is not one of 301, 302, 303, 307, 308", at.String(), rd.StatusCode)
	}
	switch rd.Scheme {
	case "", "http", "https":
	default:
		v.addf("%s.scheme: %q is not http or https", at.String(), rd.Scheme)
	}
	if rd.Hostname != "" && !validHostname(rd.Hostname) {
		v.addf("%s.hostname: %q is not a host name", at.String(), rd.Hostname)
	}
	if rd.Port != nil {
		v.port(at.f(".port"), *rd.Port)
	}
	v.pathModifier(at, r.Match.Path, rd.FullPath, rd.ReplacePrefixMatch)
}

func (v *validator) headerModifier(at *loc, h *HeaderModifier) {
	if h == nil {
		return
	}
	check := func(field, name string) {
		if !validHeaderName(name) {
			v.addf("%s.%s: %q is not a valid header name", at.String(), field, name)
		} else if strings.EqualFold(name, "host") {
			// The data plane's rule, as Envoy's: Host is rewritten by
			// forward.rewrite.hostname, never by a header mutation.
			v.addf("%s.%s: the Host header cannot be modified as a header (rewrite the hostname instead)", at.String(), field)
		}
	}
	for _, s := range h.Set {
		check("set", s.Name)
	}
	for _, a := range h.Add {
		check("add", a.Name)
	}
	for _, r := range h.Remove {
		check("remove", r)
	}
}

func (v *validator) cluster(i int, c *Cluster) {
	if c == nil {
		v.addf("clusters[%d]: nil cluster", i)
		return
	}
	if c.Name == "" {
		v.addf("clusters[%d].name: must not be empty", i)
		return
	}
	at := root.key("clusters", c.Name)
	if v.clusters[c.Name] {
		v.addf("%s.name: duplicate cluster name", at.String())
	}
	v.clusters[c.Name] = true
	v.upstreamTLS(at.f(".tls"), c.TLS)
	switch c.Discovery {
	case DiscoveryEDS, DiscoveryDNS:
	default:
		v.addf("%s.discovery: unknown discovery type %q (want %s or %s)", at.String(), c.Discovery, DiscoveryEDS, DiscoveryDNS)
	}
	if c.Protocol != ProtocolHTTP1 && c.Protocol != ProtocolHTTP2 {
		v.addf("%s.protocol: unknown protocol %q (want empty for HTTP/1.1 or %s)", at.String(), c.Protocol, ProtocolHTTP2)
	}
	for j, e := range c.Endpoints {
		eat := at.idx(".endpoints", j)
		switch c.Discovery {
		case DiscoveryEDS:
			if !validIP(e.Address) {
				v.addf("%s.address: %q is not an IP address (EDS clusters take IPs; use discovery DNS for host names)", eat.String(), e.Address)
			}
		case DiscoveryDNS:
			if !ValidDNSEndpoint(e.Address) {
				v.addf("%s.address: %q is neither a host name nor an IP address", eat.String(), e.Address)
			}
		}
		v.port(eat.f(".port"), e.Port)
	}
}

func (v *validator) secret(i int, s *Secret) {
	if s == nil {
		v.addf("secrets[%d]: nil secret", i)
		return
	}
	if s.Name == "" {
		v.addf("secrets[%d].name: must not be empty", i)
		return
	}
	at := root.key("secrets", s.Name)
	if v.secrets[s.Name] {
		v.addf("%s.name: duplicate secret name", at.String())
	}
	v.secrets[s.Name] = true
	if v.caSecret(at, s) {
		return
	}
	if strings.TrimSpace(s.CertChain) == "" {
		v.addf("%s.certChain: must not be empty", at.String())
	}
	if strings.TrimSpace(s.PrivateKey) == "" {
		v.addf("%s.privateKey: must not be empty", at.String())
	}
}

func (v *validator) port(at *loc, p uint32) {
	if p < 1 || p > 65535 {
		v.addf("%s: %d is not in 1-65535", at.String(), p)
	}
}

// validHostname accepts DNS names made of letters, digits, '-' and '.'
// (labels 1-63 characters), the form Gateway API hostnames take.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// ValidServerName reports whether s is a host name or a "*."-prefixed
// wildcard host name, as Validate requires of domains and SNIs.
func ValidServerName(s string) bool { return validServerName(s) }

// ValidDNSName reports whether s is a host name the data plane may resolve,
// as Validate requires of a DNS endpoint's address that is not an IP: no
// wildcard; one trailing dot allowed, which makes the name fully qualified
// (resolved as it is, no search domains), as Kubernetes accepts it in an
// ExternalName Service.
func ValidDNSName(s string) bool { return validHostname(strings.TrimSuffix(s, ".")) }

// ValidDNSEndpoint reports whether s may be the address of a DNS
// endpoint, as Validate requires: a host name (ValidDNSName) or an IP
// address. Translation filters with it, so the rule is stated once.
func ValidDNSEndpoint(s string) bool { return ValidDNSName(s) || validIP(s) }

// validIP is an IP address without a zone: the data plane takes no
// "fe80::1%eth0", which netip alone would accept.
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// validServerName accepts a host name or a "*."-prefixed wildcard host name.
func validServerName(s string) bool {
	return validHostname(strings.TrimPrefix(s, "*."))
}

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderName is a token; pseudo-headers (":path") are not allowed since
// they cannot be matched or modified through Gateway API.
func validHeaderName(s string) bool {
	return validToken(s)
}
