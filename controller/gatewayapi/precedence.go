package gatewayapi

import (
	"github.com/edgeway/edgeway/controller/ir"
)

// pathRank orders path match types: Exact, then RegularExpression, then
// PathPrefix. Regex precedence is implementation-specific in Gateway API;
// ranking regexes after prefixes would let any catch-all "/" prefix shadow
// every regex of the virtual host, so edgeway ranks them before prefixes, as
// Envoy Gateway does (a regex is a deliberate, narrow match).
func pathRank(p *ir.PathMatch) int {
	if p == nil {
		return 2
	}
	switch p.Type {
	case ir.PathExact:
		return 0
	case ir.PathRegex:
		return 1
	}
	return 2
}

// httpPrecedence is the Gateway API order among matches that compete for the
// same request within one virtual host (first wins):
//  1. Exact path, then regex (longest first), then the longest PathPrefix;
//  2. a method match;
//  3. the most header matches;
//  4. the most query parameter matches;
//  5. the oldest route (creationTimestamp), then namespace/name alphabetically;
//  6. rule order, then match order within the rule.
func httpPrecedence(a, b *httpMatch) bool {
	if a.grpc != nil && b.grpc != nil {
		return grpcPrecedence(a, b)
	}
	ma, mb := a.ir.Match, b.ir.Match
	if ra, rb := pathRank(ma.Path), pathRank(mb.Path); ra != rb {
		return ra < rb
	}
	if ma.Path != nil && mb.Path != nil && len(ma.Path.Value) != len(mb.Path.Value) {
		return len(ma.Path.Value) > len(mb.Path.Value)
	}
	if (ma.Method != "") != (mb.Method != "") {
		return ma.Method != ""
	}
	if len(ma.Headers) != len(mb.Headers) {
		return len(ma.Headers) > len(mb.Headers)
	}
	if len(ma.QueryParams) != len(mb.QueryParams) {
		return len(ma.QueryParams) > len(mb.QueryParams)
	}
	if a.route != b.route {
		return olderFirst(a.route, b.route)
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.match < b.match
}

// cloneRoute deep-copies an IR route template: the same compiled match is
// emitted in several virtual hosts and route tables, which must not share memory.
func cloneRoute(r *ir.Route) *ir.Route {
	c := *r
	if r.Match.Path != nil {
		p := *r.Match.Path
		c.Match.Path = &p
	}
	c.Match.Headers = append([]ir.StringMatch(nil), r.Match.Headers...)
	c.Match.QueryParams = append([]ir.StringMatch(nil), r.Match.QueryParams...)
	if r.Forward != nil {
		f := *r.Forward
		f.Backends = append([]ir.WeightedCluster(nil), r.Forward.Backends...)
		if r.Forward.Rewrite != nil {
			rw := *r.Forward.Rewrite
			rw.FullPath = cloneString(rw.FullPath)
			rw.ReplacePrefixMatch = cloneString(rw.ReplacePrefixMatch)
			f.Rewrite = &rw
		}
		c.Forward = &f
	}
	if r.Redirect != nil {
		rd := *r.Redirect
		rd.FullPath = cloneString(rd.FullPath)
		rd.ReplacePrefixMatch = cloneString(rd.ReplacePrefixMatch)
		if rd.Port != nil {
			p := *rd.Port
			rd.Port = &p
		}
		c.Redirect = &rd
	}
	if r.DirectResponse != nil {
		d := *r.DirectResponse
		c.DirectResponse = &d
	}
	c.RequestHeaders = cloneHeaders(r.RequestHeaders)
	c.ResponseHeaders = cloneHeaders(r.ResponseHeaders)
	return &c
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

func cloneHeaders(h *ir.HeaderModifier) *ir.HeaderModifier {
	if h == nil {
		return nil
	}
	return &ir.HeaderModifier{
		Set:    append([]ir.Header(nil), h.Set...),
		Add:    append([]ir.Header(nil), h.Add...),
		Remove: append([]string(nil), h.Remove...),
	}
}
