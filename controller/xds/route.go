package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/edgeway/edgeway/controller/ir"
)

// routeConfiguration is one RDS resource per IR route table. Virtual hosts
// keep the IR order (by name); routes keep the IR order, which is precedence.
func (t *translator) routeConfiguration(rt *ir.RouteTable) *routev3.RouteConfiguration {
	out := &routev3.RouteConfiguration{Name: rt.Name}
	if len(rt.VirtualHosts) > 0 {
		out.VirtualHosts = make([]*routev3.VirtualHost, 0, len(rt.VirtualHosts))
	}
	prev := previousVHosts{list: t.prevVHosts[rt.Name]}
	next := make([]translatedVHost, 0, len(rt.VirtualHosts))
	for _, vh := range rt.VirtualHosts {
		e := t.virtualHost(&prev, vh)
		next = append(next, e)
		out.VirtualHosts = append(out.VirtualHosts, e.xds)
	}
	t.nextVHosts[rt.Name] = next
	return out
}

func (t *translator) route(r *ir.Route) *routev3.Route {
	out := &routev3.Route{Name: r.Name, Match: routeMatch(&r.Match)}
	switch {
	case r.Forward != nil:
		out.Action = &routev3.Route_Route{Route: forward(r.Match.Path, r.Forward)}
	case r.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirect(r.Match.Path, r.Redirect)}
	case r.DirectResponse != nil:
		dr := &routev3.DirectResponseAction{Status: uint32(r.DirectResponse.StatusCode)}
		if r.DirectResponse.Body != "" {
			dr.Body = inlineString(r.DirectResponse.Body)
		}
		out.Action = &routev3.Route_DirectResponse{DirectResponse: dr}
	}
	if h := r.RequestHeaders; h != nil {
		out.RequestHeadersToAdd = headersToAdd(h)
		out.RequestHeadersToRemove = append([]string(nil), h.Remove...)
	}
	if h := r.ResponseHeaders; h != nil {
		out.ResponseHeadersToAdd = headersToAdd(h)
		out.ResponseHeadersToRemove = append([]string(nil), h.Remove...)
	}
	if r.CORS != nil {
		out.TypedPerFilterConfig = t.corsPerRoute(r.CORS)
	}
	return out
}

// routeMatch maps Gateway API path matching onto Envoy's path specifiers.
// PathPrefix is segment-aware, which is exactly path_separated_prefix; that
// field cannot hold "/" or a trailing slash, and Gateway API ignores a
// trailing slash ("/foo/" matches "/foo"), so the prefix is trimmed and the
// root prefix becomes the plain prefix "/" (which matches every path).
func routeMatch(m *ir.RouteMatch) *routev3.RouteMatch {
	out := &routev3.RouteMatch{}
	switch p := m.Path; {
	case p == nil:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
	case p.Type == ir.PathExact:
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Value}
	case p.Type == ir.PathRegex:
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Value}}
	default:
		if prefix := trimPrefix(p.Value); prefix == "/" {
			out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: prefix}
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, &routev3.HeaderMatcher{
			Name:                 h.Name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(h)},
		})
	}
	if m.Method != "" {
		out.Headers = append(out.Headers, &routev3.HeaderMatcher{
			Name: ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Method},
			}},
		})
	}
	for _, q := range m.QueryParams {
		out.QueryParameters = append(out.QueryParameters, &routev3.QueryParameterMatcher{
			Name:                         q.Name,
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q)},
		})
	}
	return out
}

func stringMatcher(s ir.StringMatch) *matcherv3.StringMatcher {
	if s.Type == ir.MatchRegex {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: s.Value},
		}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s.Value}}
}

// forward is a route action: one cluster, or weighted clusters (kept with
// zero weights, which Envoy allows, so the weights mirror the HTTPRoute).
func forward(path *ir.PathMatch, f *ir.Forward) *routev3.RouteAction {
	out := &routev3.RouteAction{}
	if len(f.Backends) == 1 && !hasBackendHeaders(f.Backends) {
		out.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: f.Backends[0].Cluster}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range f.Backends {
			wc.Clusters = append(wc.Clusters, clusterWeight(b))
		}
		out.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	routeFeatures(out, f)
	if rw := f.Rewrite; rw != nil {
		if rw.Hostname != "" {
			out.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Hostname}
		}
		pr := pathRewriteFor(path, rw.FullPath, rw.ReplacePrefixMatch)
		out.PrefixRewrite = pr.prefix
		out.RegexRewrite = pr.regex
	}
	return out
}

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirect(path *ir.PathMatch, r *ir.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{
		HostRedirect: r.Hostname,
		ResponseCode: redirectCodes[r.StatusCode],
	}
	if r.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	if r.Port != nil {
		out.PortRedirect = *r.Port
	}
	pr := pathRewriteFor(path, r.FullPath, r.ReplacePrefixMatch)
	switch {
	case r.FullPath != nil:
		// A redirect replaces the path literally (the query is kept).
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *r.FullPath}
	case pr.prefix != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: pr.prefix}
	case pr.regex != nil:
		out.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: pr.regex}
	}
	return out
}
