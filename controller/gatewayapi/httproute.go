package gatewayapi

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// httpMatch is one (rule, match) of an HTTPRoute, compiled to an IR route
// template, plus what precedence sorting needs.
type httpMatch struct {
	route metav1.Object // *gwv1.HTTPRoute or *gwv1.GRPCRoute
	rule  int
	match int
	ir    *ir.Route
	grpc  *grpcRank // GRPCRoute matches only: their precedence
}

// httpAttachment is an HTTPRoute attached to a listener for one domain.
type httpAttachment struct {
	route   metav1.Object // *gwv1.HTTPRoute or *gwv1.GRPCRoute
	domain  string
	matches []*httpMatch
}

// defaultRule is the API server's default for an HTTPRoute without rules
// (match PathPrefix "/", no backends: every request gets 500).
var defaultRule = []gwv1.HTTPRouteRule{{}}

func (t *translator) attachHTTPRoutes() {
	t.beginAttachMemo()
	// Room for a status per route up front: at thousands of routes,
	// growing the slice of (large) statuses was the biggest allocation of
	// a translation through the Translator. Without any, it stays as it was
	// (nil), as the statuses' encoding tells nil from empty.
	before := t.statuses.Routes
	t.statuses.Routes = slices.Grow(t.statuses.Routes, len(t.snap.HTTPRoutes))
	defer func() {
		if len(t.statuses.Routes) == 0 {
			t.statuses.Routes = before
		}
	}()
	for _, r := range t.snap.HTTPRoutes {
		if r == nil {
			continue
		}
		info := routeInfo{kind: "HTTPRoute", obj: r, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, hasHostnames: true}
		if t.memo != nil && r.UID != "" && r.Generation != 0 {
			t.attachHTTPRouteMemo(info, r)
			continue
		}
		t.attachHTTPLike(info, r, func() ([]*httpMatch, *ruleReport) { return t.compileHTTPRoute(info, r) })
	}
	t.endAttachMemo()
}

// attachHTTPLike attaches an HTTPRoute or a GRPCRoute: both compile into
// matches served on HTTP listeners, per attached domain, and report status
// the same way. compile runs only if the route attaches somewhere.
func (t *translator) attachHTTPLike(info routeInfo, route metav1.Object, compile func() ([]*httpMatch, *ruleReport)) {
	parents := t.attach(info)
	if len(parents) == 0 {
		return
	}
	t.dropCrossServing(info, parents)
	matches, rep := compile()
	t.serveHTTPLike(route, parents, matches)
	t.routeStatus(info, parents, rep)
}

// serveHTTPLike puts a route's compiled matches on every listener and
// domain its accepted parentRefs attached to.
func (t *translator) serveHTTPLike(route metav1.Object, parents []parentResult, matches []*httpMatch) {
	for _, p := range parents {
		if !p.problem.ok() {
			continue
		}
		for _, a := range p.attachments {
			for _, d := range a.domains {
				a.listener.http = append(a.listener.http, t.newHTTPAttachment(route, d, matches))
			}
		}
	}
}

// newHTTPAttachment allocates HTTP attachments a block at a time: a
// translation makes one per route and hostname, thousands.
func (t *translator) newHTTPAttachment(route metav1.Object, domain string, matches []*httpMatch) *httpAttachment {
	if len(t.httpSlab) == cap(t.httpSlab) {
		t.httpSlab = make([]httpAttachment, 0, 256)
	}
	t.httpSlab = append(t.httpSlab, httpAttachment{route: route, domain: domain, matches: matches})
	return &t.httpSlab[len(t.httpSlab)-1]
}

// compileHTTPRoute compiles every valid rule. Invalid rules (unsupported
// filters, invalid matches) are dropped and reported; invalid backendRefs only
// lose their share (ResolvedRefs=False), see httpAction.
func (t *translator) compileHTTPRoute(info routeInfo, r *gwv1.HTTPRoute) ([]*httpMatch, *ruleReport) {
	rules := r.Spec.Rules
	if len(rules) == 0 {
		rules = defaultRule
	}
	return compileRules(rules, func(i int, rule *gwv1.HTTPRouteRule, rep *ruleReport) ([]*httpMatch, problem) {
		return t.compileHTTPRule(info, r, i, rule, rep)
	})
}

// compileRules compiles every rule with compile; a rule with a problem is
// dropped and reported, the others are served.
func compileRules[R any](rules []R, compile func(i int, rule *R, rep *ruleReport) ([]*httpMatch, problem)) ([]*httpMatch, *ruleReport) {
	rep := &ruleReport{rules: len(rules)}
	var out []*httpMatch
	for i := range rules {
		ms, p := compile(i, &rules[i], rep)
		if p.ok() {
			p = servableRule(i, ms)
		}
		if !p.ok() {
			rep.dropped = append(rep.dropped, p)
			continue
		}
		out = append(out, ms...)
	}
	return out, rep
}

// servableRule is the backstop behind compile's own checks of a rule's
// values: a rule whose routes the IR would refuse is dropped and reported
// like any invalid rule. Published, it would have made the xDS server
// refuse the whole IR and keep the previous one, every Gateway's changes
// with it in standalone.
func servableRule(i int, ms []*httpMatch) problem {
	for _, m := range ms {
		if err := ir.ValidateRoute(m.ir); err != nil {
			why := strings.ReplaceAll(err.Error(), "\n", "; ")
			return problem{string(gwv1.RouteReasonUnsupportedValue), "spec.rules[" + strconv.Itoa(i) + "]: edgeway cannot serve this rule: " + why}
		}
	}
	return problem{}
}

func (t *translator) compileHTTPRule(info routeInfo, r *gwv1.HTTPRoute, i int, rule *gwv1.HTTPRouteRule, rep *ruleReport) ([]*httpMatch, problem) {
	field := "spec.rules[" + strconv.Itoa(i) + "]" // concatenation: per rule at thousands of routes, cheaper than Sprintf
	f, p := compileFilters(field, rule.Filters)
	if !p.ok() {
		return nil, p
	}
	if rule.SessionPersistence != nil {
		return nil, unsupportedValue(field+".sessionPersistence", "session persistence is not supported")
	}
	timeouts, p := compileTimeouts(field, rule.Timeouts)
	if !p.ok() {
		return nil, p
	}
	retry, p := compileRetry(field, rule.Retry)
	if !p.ok() {
		return nil, p
	}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.HTTPRouteMatch{{}}
	}
	var irMatches []ir.RouteMatch
	for j := range matches {
		m, p := compileMatch(field+".matches["+strconv.Itoa(j)+"]", &matches[j])
		if !p.ok() {
			return nil, p
		}
		if f.needsPrefixMatch != "" && m.Path.Type != ir.PathPrefix {
			return nil, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s: ReplacePrefixMatch requires every match of the rule to use a PathPrefix path match, but %s.matches[%d].path is %s", f.needsPrefixMatch, field, j, m.Path.Type)}
		}
		irMatches = append(irMatches, m)
	}
	// backendRefs are resolved even for redirect rules: ResolvedRefs reports them.
	var backends []ir.WeightedCluster
	for j, br := range rule.BackendRefs {
		bf := field + ".backendRefs[" + strconv.Itoa(j) + "]"
		reqH, respH, p := compileBackendFilters(bf, br.Filters)
		if !p.ok() {
			return nil, p
		}
		c, p := t.resolveBackend(info.ref(), br.BackendObjectReference, bf)
		if !p.ok() {
			rep.refProblem(p)
			continue
		}
		backends = append(backends, ir.WeightedCluster{Cluster: c, Weight: weightOf(br.Weight), RequestHeaders: reqH, ResponseHeaders: respH})
	}
	mirrors := t.resolveMirrors(info, f.mirrors, rep)
	var out []*httpMatch
	for j, m := range irMatches {
		route := &ir.Route{
			Name:            r.Namespace + "/" + r.Name + "/rule/" + ruleName(i, rule) + "/match/" + strconv.Itoa(j),
			Match:           m,
			RequestHeaders:  f.request,
			ResponseHeaders: f.response,
			CORS:            f.cors,
		}
		switch {
		case f.redirect != nil:
			route.Redirect = f.redirect
		case anyWeight(backends):
			route.Forward = &ir.Forward{Backends: backends, Rewrite: f.rewrite, Timeouts: timeouts, Retry: retry, Mirrors: mirrors}
		default:
			// No usable backend: the spec requires a 500 for the rule's traffic.
			route.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		}
		out = append(out, &httpMatch{route: r, rule: i, match: j, ir: route})
	}
	return out, problem{}
}

func anyWeight(bs []ir.WeightedCluster) bool {
	for _, b := range bs {
		if b.Weight > 0 {
			return true
		}
	}
	return false
}

// compileMatch applies the API defaults (PathPrefix "/", Exact) and validates
// values. Repeated header names (case-insensitive) and query names
// (case-sensitive) keep only the first entry, as the spec requires.
func compileMatch(field string, m *gwv1.HTTPRouteMatch) (ir.RouteMatch, problem) {
	out := ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}}
	if m.Path != nil {
		typ := gwv1.PathMatchPathPrefix
		if m.Path.Type != nil {
			typ = *m.Path.Type
		}
		value := "/"
		if m.Path.Value != nil {
			value = *m.Path.Value
		}
		switch typ {
		case gwv1.PathMatchExact, gwv1.PathMatchPathPrefix:
			if !strings.HasPrefix(value, "/") {
				return out, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.path.value: %q must start with \"/\"", field, value)}
			}
			if typ == gwv1.PathMatchExact {
				out.Path = &ir.PathMatch{Type: ir.PathExact, Value: value}
			} else {
				// A trailing slash is ignored: "/abc/" and "/abc" match the same paths.
				v := strings.TrimRight(value, "/")
				if v == "" {
					v = "/"
				}
				out.Path = &ir.PathMatch{Type: ir.PathPrefix, Value: v}
			}
		case gwv1.PathMatchRegularExpression:
			if _, err := regexp.Compile(value); err != nil {
				return out, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.path.value: invalid RE2 regular expression: %v", field, err)}
			}
			out.Path = &ir.PathMatch{Type: ir.PathRegex, Value: value}
		default:
			return out, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.path.type: unsupported value %q", field, typ)}
		}
	}
	seen := map[string]bool{}
	for k, h := range m.Headers {
		name := strings.ToLower(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		sm, p := stringMatch(fmt.Sprintf("%s.headers[%d]", field, k), name, (*string)(h.Type), h.Value)
		if !p.ok() {
			return out, p
		}
		out.Headers = append(out.Headers, sm)
	}
	seen = map[string]bool{}
	for k, q := range m.QueryParams {
		name := string(q.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		sm, p := stringMatch(fmt.Sprintf("%s.queryParams[%d]", field, k), name, (*string)(q.Type), q.Value)
		if !p.ok() {
			return out, p
		}
		out.QueryParams = append(out.QueryParams, sm)
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	return out, problem{}
}

func stringMatch(field, name string, typ *string, value string) (ir.StringMatch, problem) {
	t := "Exact"
	if typ != nil && *typ != "" {
		t = *typ
	}
	switch t {
	case "Exact":
		return ir.StringMatch{Name: name, Type: ir.MatchExact, Value: value}, problem{}
	case "RegularExpression":
		if _, err := regexp.Compile(value); err != nil {
			return ir.StringMatch{}, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.value: invalid RE2 regular expression: %v", field, err)}
		}
		return ir.StringMatch{Name: name, Type: ir.MatchRegex, Value: value}, problem{}
	}
	return ir.StringMatch{}, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s.type: unsupported value %q", field, t)}
}
