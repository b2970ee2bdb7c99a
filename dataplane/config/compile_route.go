package config

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// compileRoute validates one RouteConfiguration and builds its tables.
// Cluster references are recorded by name; resolve links them once all
// resources are compiled.
func compileRoute(name string, rc *routev3.RouteConfiguration) (*RouteTable, error) {
	t, _, err := compileRouteWith(name, rc, nil, nil)
	return t, err
}

// compileRouteWith is compileRoute that takes each virtual host whose xDS
// message is unchanged from vhosts (nil: compile everything) and records
// the ones it compiles there, keyed by their wire form: wire (the bytes they
// were decoded from, index for index) when it has one per virtual host,
// else marshalled. Every field is checked before any virtual host is
// compiled, as checkFields over the whole resource would. It also returns
// the indices of the virtual hosts that link must link; nil: all of them.
func compileRouteWith(name string, rc *routev3.RouteConfiguration, vhosts *vhostCache, wire []string) (*RouteTable, []int, error) {
	rep := reporter{kind: "route configuration", name: name}
	if rc == nil {
		return nil, nil, rep.errf("", "resource is empty")
	}
	if err := checkFieldsExcept(rep, rc, "virtual_hosts"); err != nil {
		return nil, nil, err
	}
	pvhs := rc.GetVirtualHosts()
	root := rc.ProtoReflect().Descriptor().FullName()
	if len(wire) != len(pvhs) {
		wire = nil
	}
	keys := wire // read-only here, like all of Resources
	if keys == nil || vhosts == nil {
		keys = make([]string, len(pvhs))
		for i, pvh := range pvhs {
			keys[i] = vhosts.key(pvh)
		}
	}
	cached := vhosts.table(name, keys)
	for i, pvh := range pvhs {
		if cached.find(i) != nil {
			continue // checked when it was compiled
		}
		if err := checkElement(rep, root, "virtual_hosts", i, pvh); err != nil {
			return nil, nil, err
		}
	}
	if rc.GetName() != name {
		return nil, nil, rep.errf("name", "resource name %q differs from its key", rc.GetName())
	}
	t := &RouteTable{Name: name, VirtualHosts: make([]*VirtualHost, 0, len(pvhs))}
	var relink []int // nil: link links every virtual host
	if vhosts != nil {
		relink = []int{}
	}
	for i, pvh := range pvhs {
		vh, link, err := cached.take(i, func() (*VirtualHost, error) { return compileVirtualHost(rep, vhostLoc(i), pvh) })
		if err != nil {
			// A domain taken twice before this virtual host is the
			// error to report, as when names were added one by one.
			if derr := indexHostsAnew(rep, t, pvhs, i); derr != nil {
				return nil, nil, derr
			}
			return nil, nil, err
		}
		if link && relink != nil {
			relink = append(relink, i)
		}
		t.VirtualHosts = append(t.VirtualHosts, vh)
	}
	if err := indexHosts(rep, t, pvhs, cached.prevTable()); err != nil {
		return nil, nil, err
	}
	cached.done(t)
	return t, relink, nil
}

// vhostLoc is virtual host i's location, rendered only where it is used
// (a compile or an error), not for each reused virtual host.
func vhostLoc(i int) string { return "virtual_hosts[" + strconv.Itoa(i) + "]" }

// compileVirtualHost validates and compiles one virtual host on its own
// (its domains are checked against the other virtual hosts by the caller).
func compileVirtualHost(rep reporter, loc string, pvh *routev3.VirtualHost) (*VirtualHost, error) {
	vh := &VirtualHost{Name: pvh.GetName()}
	if len(pvh.GetDomains()) == 0 {
		return nil, rep.errf(loc+".domains", "at least one domain is required")
	}
	for j, d := range pvh.GetDomains() {
		if !validHostPattern(d, true) {
			return nil, rep.errf(fmt.Sprintf("%s.domains[%d]", loc, j), "invalid domain %q: a wildcard is only allowed as the first or last character", d)
		}
		vh.Domains = append(vh.Domains, strings.ToLower(d))
	}
	for j, pr := range pvh.GetRoutes() {
		r, err := compileRouteEntry(rep, fmt.Sprintf("%s.routes[%d]", loc, j), pr)
		if err != nil {
			return nil, err
		}
		vh.Routes = append(vh.Routes, r)
	}
	return vh, nil
}

func compileRouteEntry(rep reporter, loc string, pr *routev3.Route) (*Route, error) {
	r := &Route{Name: pr.GetName()}
	m, err := compileMatch(rep, loc+".match", pr.GetMatch())
	if err != nil {
		return nil, err
	}
	r.Match = m
	switch a := pr.GetAction().(type) {
	case *routev3.Route_Route:
		r.Forward, err = compileForward(rep, loc+".route", a.Route, &r.Match)
	case *routev3.Route_Redirect:
		r.Redirect, err = compileRedirect(rep, loc+".redirect", a.Redirect, &r.Match)
	case *routev3.Route_DirectResponse:
		r.Direct, err = compileDirect(rep, loc+".direct_response", a.DirectResponse)
	default:
		err = rep.errf(loc, "one of route, redirect or direct_response is required")
	}
	if err != nil {
		return nil, err
	}
	if r.RequestHeaders, err = compileHeaders(rep, loc, "request", pr.GetRequestHeadersToAdd(), pr.GetRequestHeadersToRemove()); err != nil {
		return nil, err
	}
	if r.ResponseHeaders, err = compileHeaders(rep, loc, "response", pr.GetResponseHeadersToAdd(), pr.GetResponseHeadersToRemove()); err != nil {
		return nil, err
	}
	if r.CORS, err = compileCORSPolicy(rep, loc, pr); err != nil {
		return nil, err
	}
	return r, nil
}

func compileMatch(rep reporter, loc string, pm *routev3.RouteMatch) (RouteMatch, error) {
	var m RouteMatch
	if pm == nil {
		return m, rep.errf(loc, "match is required")
	}
	switch p := pm.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		m.Kind, m.Path = PathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		m.Kind, m.Path = PathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		m.Kind, m.Path = PathSeparatedPrefix, p.PathSeparatedPrefix
		if !strings.HasPrefix(m.Path, "/") || (len(m.Path) > 1 && strings.HasSuffix(m.Path, "/")) || strings.ContainsAny(m.Path, "?#") {
			return m, rep.errf(loc+".path_separated_prefix", "%q must start with '/', not end with '/' and contain no '?' or '#'", m.Path)
		}
		if m.Path == "/" {
			// Every path starts a segment after "/": this is prefix "/".
			m.Kind = PathPrefix
		}
	case *routev3.RouteMatch_SafeRegex:
		re, err := fullRegex(p.SafeRegex.GetRegex())
		if err != nil {
			return m, rep.errf(loc+".safe_regex.regex", "%v", err)
		}
		m.Kind, m.Regex, m.Path = PathRegex, re, p.SafeRegex.GetRegex()
	default:
		return m, rep.errf(loc, "one of path, prefix, path_separated_prefix or safe_regex is required")
	}
	for i, h := range pm.GetHeaders() {
		hloc := fmt.Sprintf("%s.headers[%d]", loc, i)
		if h.GetName() == "" {
			return m, rep.errf(hloc+".name", "name is required")
		}
		sm, ok := h.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_StringMatch)
		if !ok {
			return m, rep.errf(hloc, "string_match is required")
		}
		v, err := compileStringMatch(rep, hloc+".string_match", sm.StringMatch)
		if err != nil {
			return m, err
		}
		m.Headers = append(m.Headers, newHeaderMatch(h.GetName(), v))
	}
	for i, q := range pm.GetQueryParameters() {
		qloc := fmt.Sprintf("%s.query_parameters[%d]", loc, i)
		if q.GetName() == "" {
			return m, rep.errf(qloc+".name", "name is required")
		}
		v, err := compileStringMatch(rep, qloc+".string_match", q.GetStringMatch())
		if err != nil {
			return m, err
		}
		m.Query = append(m.Query, QueryMatch{Name: q.GetName(), Value: v})
	}
	return m, nil
}

func compileStringMatch(rep reporter, loc string, sm *matcherv3.StringMatcher) (StringMatch, error) {
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return StringMatch{Exact: p.Exact}, nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := fullRegex(p.SafeRegex.GetRegex())
		if err != nil {
			return StringMatch{}, rep.errf(loc+".safe_regex.regex", "%v", err)
		}
		return StringMatch{Regex: re}, nil
	}
	return StringMatch{}, rep.errf(loc, "exact or safe_regex is required")
}

// fullRegex compiles an RE2 expression that must match the whole input.
func fullRegex(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, fmt.Errorf("regex is empty")
	}
	if _, err := regexp.Compile(expr); err != nil {
		return nil, fmt.Errorf("invalid regex %q: %v", expr, err)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

func compileForward(rep reporter, loc string, a *routev3.RouteAction, m *RouteMatch) (*Forward, error) {
	f := &Forward{Timeout: DefaultRouteTimeout}
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		if c.Cluster == "" {
			return nil, rep.errf(loc+".cluster", "cluster name is empty")
		}
		f.Clusters = WeightedClusters{Entries: []WeightedCluster{{Name: c.Cluster, Weight: 1}}, total: 1}
	case *routev3.RouteAction_WeightedClusters:
		for i, wc := range c.WeightedClusters.GetClusters() {
			if wc.GetName() == "" {
				return nil, rep.errf(fmt.Sprintf("%s.weighted_clusters.clusters[%d].name", loc, i), "cluster name is empty")
			}
			e := WeightedCluster{Name: wc.GetName(), Weight: wc.GetWeight().GetValue()}
			cloc := fmt.Sprintf("%s.weighted_clusters.clusters[%d]", loc, i)
			var err error
			if e.RequestHeaders, err = compileHeaders(rep, cloc, "request", wc.GetRequestHeadersToAdd(), wc.GetRequestHeadersToRemove()); err != nil {
				return nil, err
			}
			if e.ResponseHeaders, err = compileHeaders(rep, cloc, "response", wc.GetResponseHeadersToAdd(), wc.GetResponseHeadersToRemove()); err != nil {
				return nil, err
			}
			f.Clusters.Entries = append(f.Clusters.Entries, e)
			f.Clusters.total += uint64(wc.GetWeight().GetValue())
		}
		if len(f.Clusters.Entries) == 0 || f.Clusters.total == 0 {
			return nil, rep.errf(loc+".weighted_clusters", "at least one cluster with a weight above 0 is required")
		}
	default:
		return nil, rep.errf(loc, "cluster or weighted_clusters is required")
	}
	if a.GetPrefixRewrite() != "" {
		if m.Kind == PathRegex {
			return nil, rep.errf(loc+".prefix_rewrite", "prefix_rewrite cannot be used with a safe_regex match")
		}
		f.PrefixRewrite, f.HasPrefixRewrite = a.GetPrefixRewrite(), true
	}
	if rr := a.GetRegexRewrite(); rr != nil {
		if f.HasPrefixRewrite {
			return nil, rep.errf(loc+".regex_rewrite", "cannot be combined with prefix_rewrite")
		}
		re, sub, err := compileRegexRewrite(rep, loc+".regex_rewrite", rr)
		if err != nil {
			return nil, err
		}
		f.RegexRewrite, f.RegexSubstitution = re, sub
	}
	if h := a.GetHostRewriteLiteral(); h != "" {
		if !validHeaderValue(h) {
			return nil, rep.errf(loc+".host_rewrite_literal", "invalid host %q", h)
		}
		f.HostRewrite = h
	}
	if t := a.GetTimeout(); t != nil {
		if err := t.CheckValid(); err != nil || t.AsDuration() < 0 {
			return nil, rep.errf(loc+".timeout", "invalid duration")
		}
		f.Timeout = t.AsDuration()
	}
	if err := compileForwardFeatures(rep, loc, a, f); err != nil {
		return nil, err
	}
	return f, nil
}

func compileRedirect(rep reporter, loc string, a *routev3.RedirectAction, m *RouteMatch) (*Redirect, error) {
	r := &Redirect{Host: a.GetHostRedirect(), Port: a.GetPortRedirect(), Path: a.GetPathRedirect()}
	if s := a.GetSchemeRedirect(); s != "" {
		r.Scheme = strings.ToLower(s)
		if r.Scheme != "http" && r.Scheme != "https" {
			return nil, rep.errf(loc+".scheme_redirect", "unsupported scheme %q (http or https)", s)
		}
	}
	if r.Port > 65535 {
		return nil, rep.errf(loc+".port_redirect", "port %d out of range", r.Port)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return nil, rep.errf(loc+".path_redirect", "%q must start with '/'", r.Path)
	}
	switch pr := a.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PrefixRewrite:
		if m.Kind == PathRegex {
			return nil, rep.errf(loc+".prefix_rewrite", "prefix_rewrite cannot be used with a safe_regex match")
		}
		r.PrefixRewrite, r.HasPrefixRewrite = pr.PrefixRewrite, true
	case *routev3.RedirectAction_RegexRewrite:
		re, sub, err := compileRegexRewrite(rep, loc+".regex_rewrite", pr.RegexRewrite)
		if err != nil {
			return nil, err
		}
		r.RegexRewrite, r.RegexSubstitution = re, sub
	}
	if !validHeaderValue(r.Host) || strings.ContainsAny(r.Host, "/?#@") {
		return nil, rep.errf(loc+".host_redirect", "invalid host %q", r.Host)
	}
	switch a.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		r.Code = http.StatusMovedPermanently
	case routev3.RedirectAction_FOUND:
		r.Code = http.StatusFound
	case routev3.RedirectAction_SEE_OTHER:
		r.Code = http.StatusSeeOther
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		r.Code = http.StatusTemporaryRedirect
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		r.Code = http.StatusPermanentRedirect
	default:
		return nil, rep.errf(loc+".response_code", "unsupported response code %v", a.GetResponseCode())
	}
	return r, nil
}

func compileDirect(rep reporter, loc string, a *routev3.DirectResponseAction) (*DirectResponse, error) {
	if a.GetStatus() < 200 || a.GetStatus() > 599 {
		return nil, rep.errf(loc+".status", "status %d out of range 200-599", a.GetStatus())
	}
	return &DirectResponse{Status: int(a.GetStatus()), Body: a.GetBody().GetInlineString()}, nil
}

func compileHeaders(rep reporter, loc, dir string, add []*corev3.HeaderValueOption, remove []string) (HeaderMutation, error) {
	var hm HeaderMutation
	for i, name := range remove {
		if !validHeaderName(name) || isRestrictedHeader(name) {
			return hm, rep.errf(fmt.Sprintf("%s.%s_headers_to_remove[%d]", loc, dir, i), "header %q cannot be removed", name)
		}
		hm.Remove = append(hm.Remove, http.CanonicalHeaderKey(name))
	}
	for i, o := range add {
		hloc := fmt.Sprintf("%s.%s_headers_to_add[%d]", loc, dir, i)
		k, v := o.GetHeader().GetKey(), o.GetHeader().GetValue()
		if !validHeaderName(k) || isRestrictedHeader(k) {
			return hm, rep.errf(hloc+".header.key", "header %q cannot be set", k)
		}
		if !validHeaderValue(v) {
			return hm, rep.errf(hloc+".header.value", "invalid header value")
		}
		op := HeaderOp{Key: http.CanonicalHeaderKey(k), Value: unescapePercent(v)}
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			op.Overwrite = true
		default:
			return hm, rep.errf(hloc+".append_action", "unsupported append_action %v", o.GetAppendAction())
		}
		hm.Ops = append(hm.Ops, op)
	}
	return hm, nil
}

// isRestrictedHeader: pseudo headers and Host are not header mutations in
// Envoy (host_rewrite_literal exists for that).
func isRestrictedHeader(name string) bool {
	return strings.HasPrefix(name, ":") || strings.EqualFold(name, "host")
}

// unescapePercent turns Envoy's "%%" into "%". Envoy would expand other
// %VARIABLE% forms; the translator only emits literal values.
func unescapePercent(v string) string {
	return strings.ReplaceAll(v, "%%", "%")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func compileRegexRewrite(rep reporter, loc string, rr *matcherv3.RegexMatchAndSubstitute) (*regexp.Regexp, string, error) {
	expr := rr.GetPattern().GetRegex()
	re, err := regexp.Compile(expr)
	if err != nil || expr == "" {
		return nil, "", rep.errf(loc+".pattern.regex", "invalid regex %q", expr)
	}
	sub := rr.GetSubstitution()
	if !validHeaderValue(sub) {
		return nil, "", rep.errf(loc+".substitution", "invalid substitution")
	}
	return re, re2Substitution(sub), nil
}
