package gatewayapi

import (
	"fmt"
	"regexp"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// GRPCRoute is served by the HTTP route tables: a gRPC call is an HTTP/2
// POST to "/<service>/<method>", so a method match is a path match and the
// rest (hostnames, header matches, weights, header modifiers, statuses) is
// HTTPRoute's machinery. What differs is precedence (grpcPrecedence) and the
// backends, which always speak HTTP/2 (grpcCluster).

// grpcRank is what GRPCRoute precedence compares, beyond the hostname.
type grpcRank struct {
	tier    int // 0 Exact method match, 1 RegularExpression, 2 none (matches every method)
	service int // characters in the matching service
	method  int // characters in the matching method
	headers int
}

// defaultGRPCRule is a GRPCRoute without rules: every call, no backends (500).
var defaultGRPCRule = []gwv1.GRPCRouteRule{{}}

func (t *translator) attachGRPCRoutes() {
	for _, r := range t.snap.GRPCRoutes {
		if r == nil {
			continue
		}
		info := routeInfo{kind: "GRPCRoute", obj: r, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, hasHostnames: true}
		t.attachHTTPLike(info, r, func() ([]*httpMatch, *ruleReport) { return t.compileGRPCRoute(info, r) })
	}
}

// compileGRPCRoute compiles every valid rule; invalid rules are dropped and
// reported as for HTTPRoute.
func (t *translator) compileGRPCRoute(info routeInfo, r *gwv1.GRPCRoute) ([]*httpMatch, *ruleReport) {
	rules := r.Spec.Rules
	if len(rules) == 0 {
		rules = defaultGRPCRule
	}
	return compileRules(rules, func(i int, rule *gwv1.GRPCRouteRule, rep *ruleReport) ([]*httpMatch, problem) {
		return t.compileGRPCRule(info, r, i, rule, rep)
	})
}

func (t *translator) compileGRPCRule(info routeInfo, r *gwv1.GRPCRoute, i int, rule *gwv1.GRPCRouteRule, rep *ruleReport) ([]*httpMatch, problem) {
	field := fmt.Sprintf("spec.rules[%d]", i)
	hf, p := grpcFilters(field, rule.Filters)
	if !p.ok() {
		return nil, p
	}
	f, p := compileFilters(field, hf)
	if !p.ok() {
		return nil, p
	}
	if rule.SessionPersistence != nil {
		return nil, unsupportedValue(field+".sessionPersistence", "session persistence is not supported")
	}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.GRPCRouteMatch{{}}
	}
	type compiled struct {
		m    ir.RouteMatch
		rank grpcRank
	}
	var cms []compiled
	for j := range matches {
		m, rank, p := compileGRPCMatch(fmt.Sprintf("%s.matches[%d]", field, j), &matches[j])
		if !p.ok() {
			return nil, p
		}
		cms = append(cms, compiled{m, rank})
	}
	var backends []ir.WeightedCluster
	for j, br := range rule.BackendRefs {
		bf := fmt.Sprintf("%s.backendRefs[%d]", field, j)
		bhf, p := grpcFilters(bf, br.Filters)
		if !p.ok() {
			return nil, p
		}
		reqH, respH, p := compileBackendFilters(bf, bhf)
		if !p.ok() {
			return nil, p
		}
		c, p := t.resolveBackend(info.ref(), br.BackendObjectReference, bf)
		if !p.ok() {
			rep.refProblem(p)
			continue
		}
		backends = append(backends, ir.WeightedCluster{Cluster: t.grpcCluster(c), Weight: weightOf(br.Weight), RequestHeaders: reqH, ResponseHeaders: respH})
	}
	var out []*httpMatch
	for j, cm := range cms {
		route := &ir.Route{
			Name:            fmt.Sprintf("%s/%s/rule/%s/match/%d", r.Namespace, r.Name, grpcRuleName(i, rule), j),
			Match:           cm.m,
			RequestHeaders:  f.request,
			ResponseHeaders: f.response,
		}
		if anyWeight(backends) {
			route.Forward = &ir.Forward{Backends: backends}
		} else {
			// No usable backend: 500, as for HTTPRoute.
			route.DirectResponse = &ir.DirectResponse{StatusCode: 500}
		}
		rank := cm.rank
		out = append(out, &httpMatch{route: r, rule: i, match: j, ir: route, grpc: &rank})
	}
	return out, problem{}
}

func grpcRuleName(i int, rule *gwv1.GRPCRouteRule) string {
	if rule.Name != nil && *rule.Name != "" {
		return string(*rule.Name)
	}
	return fmt.Sprint(i)
}

// grpcFilters maps GRPCRoute filters onto the HTTPRoute filters they share
// (header modifiers). RequestMirror would need an HTTP/2 mirror and
// ExtensionRef names no extension edgeway has: both are rejected.
func grpcFilters(field string, filters []gwv1.GRPCRouteFilter) ([]gwv1.HTTPRouteFilter, problem) {
	var out []gwv1.HTTPRouteFilter
	for k, f := range filters {
		ff := fmt.Sprintf("%s.filters[%d]", field, k)
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier:
			out = append(out, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: f.RequestHeaderModifier})
		case gwv1.GRPCRouteFilterResponseHeaderModifier:
			out = append(out, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: f.ResponseHeaderModifier})
		default:
			return nil, unsupportedValue(ff+".type", "filter %q is not supported on GRPCRoute (RequestHeaderModifier and ResponseHeaderModifier are)", f.Type)
		}
	}
	return out, problem{}
}

// grpcName is what an Exact service or method may contain: a path
// segment, so that it cannot reach into the other half of the path.
var grpcName = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)

// compileGRPCMatch turns a method match into a path match on
// "/<service>/<method>":
//
//	Exact service+method   path Exact "/s/m"
//	Exact service          path PathPrefix "/s" (segment-aware: "/s/<any method>")
//	Exact method           path RegularExpression "/[^/]+/m"
//	RegularExpression      path RegularExpression "/(?:S)/(?:M)", a missing half is "[^/]+"
//	no method match        path PathPrefix "/" (every call)
//
// Header matches are HTTPRoute header matches (names lower-case).
func compileGRPCMatch(field string, m *gwv1.GRPCRouteMatch) (ir.RouteMatch, grpcRank, problem) {
	out := ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}}
	rank := grpcRank{tier: 2}
	if mm := m.Method; mm != nil {
		typ := gwv1.GRPCMethodMatchExact
		if mm.Type != nil && *mm.Type != "" {
			typ = *mm.Type
		}
		svc, meth := deref(mm.Service), deref(mm.Method)
		if svc == "" && meth == "" {
			return out, rank, unsupportedValue(field+".method", "one of service and method is required")
		}
		rank.service, rank.method = len(svc), len(meth)
		switch typ {
		case gwv1.GRPCMethodMatchExact:
			rank.tier = 0
			for _, v := range []struct{ name, value string }{{"service", svc}, {"method", meth}} {
				if v.value != "" && !grpcName.MatchString(v.value) {
					return out, rank, unsupportedValue(field+".method."+v.name, "%q is not a valid gRPC %s name", v.value, v.name)
				}
			}
			switch {
			case svc != "" && meth != "":
				out.Path = &ir.PathMatch{Type: ir.PathExact, Value: "/" + svc + "/" + meth}
			case svc != "":
				out.Path = &ir.PathMatch{Type: ir.PathPrefix, Value: "/" + svc}
			default:
				out.Path = &ir.PathMatch{Type: ir.PathRegex, Value: "/[^/]+/" + regexp.QuoteMeta(meth)}
			}
		case gwv1.GRPCMethodMatchRegularExpression:
			rank.tier = 1
			parts := [2]string{"[^/]+", "[^/]+"}
			for k, v := range []struct{ name, value string }{{"service", svc}, {"method", meth}} {
				if v.value == "" {
					continue
				}
				if _, err := regexp.Compile(v.value); err != nil {
					return out, rank, unsupportedValue(field+".method."+v.name, "invalid RE2 regular expression: %v", err)
				}
				parts[k] = "(?:" + v.value + ")"
			}
			out.Path = &ir.PathMatch{Type: ir.PathRegex, Value: "/" + parts[0] + "/" + parts[1]}
		default:
			return out, rank, unsupportedValue(field+".method.type", "unsupported value %q", typ)
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
			return out, rank, p
		}
		out.Headers = append(out.Headers, sm)
	}
	rank.headers = len(out.Headers)
	return out, rank, problem{}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// grpcPrecedence is the GRPCRoute order among matches competing for a call
// in one virtual host (the hostname was already compared): Exact method
// matches, then RegularExpression ones, then rules matching every method
// (the length of a regular expression says nothing about how specific it
// is, as for HTTPRoute paths); within each, the most characters in the
// matching service, then in the method, then the most header matches; then
// the oldest route, namespace/name, rule and match order.
func grpcPrecedence(a, b *httpMatch) bool {
	ra, rb := a.grpc, b.grpc
	if ra.tier != rb.tier {
		return ra.tier < rb.tier
	}
	if ra.service != rb.service {
		return ra.service > rb.service
	}
	if ra.method != rb.method {
		return ra.method > rb.method
	}
	if ra.headers != rb.headers {
		return ra.headers > rb.headers
	}
	if a.route != b.route {
		return olderFirst(a.route, b.route)
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.match < b.match
}

// grpcCluster returns an HTTP/2 cluster for a GRPCRoute backend: gRPC
// needs HTTP/2 end to end. A backend port that already says HTTP/2 is used
// as is; otherwise an HTTP/2 twin of the cluster is named
// "<cluster>/http2", so HTTPRoutes to the same port keep their HTTP/1.1
// cluster.
func (t *translator) grpcCluster(name string) string {
	c := t.clusters[name]
	if c == nil || c.Protocol == ir.ProtocolHTTP2 {
		return name
	}
	twin := name + ir.HTTP2TwinSuffix
	if _, ok := t.clusters[twin]; !ok {
		cp := *c
		cp.Name = twin
		cp.Protocol = ir.ProtocolHTTP2
		cp.Endpoints = append([]ir.Endpoint(nil), c.Endpoints...)
		t.clusters[twin] = &cp
	}
	return twin
}

// routeObjectKey names a route object of any kind, for de-duplication.
func routeObjectKey(r interface {
	GetNamespace() string
	GetName() string
}) string {
	kind := "HTTPRoute"
	if _, ok := r.(*gwv1.GRPCRoute); ok {
		kind = "GRPCRoute"
	}
	return kind + "/" + key(r.GetNamespace(), r.GetName())
}

// appProtocol maps a Service port's appProtocol to the upstream HTTP
// version (Gateway API GEP-1911): "kubernetes.io/h2c" is HTTP/2 with prior
// knowledge; "kubernetes.io/ws" (WebSocket over HTTP/1.1), an empty or any
// other value is HTTP/1.1.
func appProtocol(p *string) ir.UpstreamProtocol {
	if p != nil && *p == "kubernetes.io/h2c" {
		return ir.ProtocolHTTP2
	}
	return ir.ProtocolHTTP1
}

// serviceEntryProtocol maps a ServiceEntry port protocol (Istio's names) to
// the upstream HTTP version: HTTP2 and GRPC are HTTP/2 (h2c unless TLS is
// originated); HTTP and everything else HTTP/1.1.
func serviceEntryProtocol(p string) ir.UpstreamProtocol {
	switch strings.ToUpper(p) {
	case "HTTP2", "GRPC":
		return ir.ProtocolHTTP2
	}
	return ir.ProtocolHTTP1
}
