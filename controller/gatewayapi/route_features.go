package gatewayapi

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// This file translates the per-rule traffic features of an HTTPRoute:
// timeouts, retry, RequestMirror, per-backend header filters and the
// rejection of sessionPersistence (not implemented: reported, never
// ignored). CORS is in cors.go.

// defaultRetryAttempts is used when retry.attempts is unset (the API leaves
// it to the implementation): Envoy's default num_retries.
const defaultRetryAttempts = 1

// mirrorFilter is a RequestMirror filter awaiting backend resolution.
type mirrorFilter struct {
	field                  string
	ref                    gwv1.BackendObjectReference
	numerator, denominator uint32
}

func unsupportedValue(field, format string, args ...any) problem {
	return problem{string(gwv1.RouteReasonUnsupportedValue), field + ": " + fmt.Sprintf(format, args...)}
}

// parseDuration parses a Gateway API Duration (GEP-2257: 1-4 groups of
// up to 5 digits with h, m, s or ms) into milliseconds.
func parseDuration(field string, d gwv1.Duration) (uint64, problem) {
	v, err := time.ParseDuration(string(d))
	if err != nil || v < 0 {
		return 0, unsupportedValue(field, "%q is not a valid duration", d)
	}
	if v%time.Millisecond != 0 {
		return 0, unsupportedValue(field, "%q has a precision finer than milliseconds", d)
	}
	return uint64(v / time.Millisecond), problem{}
}

// compileTimeouts: "0s" disables a timeout; backendRequest must not exceed a
// non-zero request timeout (the API's CEL rule, checked again here because
// not every source runs it).
func compileTimeouts(field string, t *gwv1.HTTPRouteTimeouts) (*ir.Timeouts, problem) {
	if t == nil || (t.Request == nil && t.BackendRequest == nil) {
		return nil, problem{}
	}
	out := &ir.Timeouts{}
	if t.Request != nil {
		ms, p := parseDuration(field+".timeouts.request", *t.Request)
		if !p.ok() {
			return nil, p
		}
		out.RequestMillis = &ms
	}
	if t.BackendRequest != nil {
		ms, p := parseDuration(field+".timeouts.backendRequest", *t.BackendRequest)
		if !p.ok() {
			return nil, p
		}
		out.BackendRequestMillis = &ms
	}
	if r, b := out.RequestMillis, out.BackendRequestMillis; r != nil && b != nil && *r != 0 && *b > *r {
		return nil, unsupportedValue(field+".timeouts.backendRequest", "%s is longer than timeouts.request %s", *t.BackendRequest, *t.Request)
	}
	return out, problem{}
}

// compileRetry keeps codes sorted and unique; attempts defaults to
// defaultRetryAttempts.
func compileRetry(field string, r *gwv1.HTTPRouteRetry) (*ir.Retry, problem) {
	if r == nil {
		return nil, problem{}
	}
	out := &ir.Retry{Attempts: defaultRetryAttempts}
	for i, c := range r.Codes {
		if c < 400 || c > 599 {
			return nil, unsupportedValue(fmt.Sprintf("%s.retry.codes[%d]", field, i), "%d is not a status code in 400-599", c)
		}
		out.Codes = append(out.Codes, uint32(c))
	}
	slices.Sort(out.Codes)
	out.Codes = slices.Compact(out.Codes)
	if r.Attempts != nil {
		if *r.Attempts < 1 || *r.Attempts > 100 {
			return nil, unsupportedValue(field+".retry.attempts", "%d is not in 1-100", *r.Attempts)
		}
		out.Attempts = uint32(*r.Attempts)
	}
	if r.Backoff != nil {
		ms, p := parseDuration(field+".retry.backoff", *r.Backoff)
		if !p.ok() {
			return nil, p
		}
		out.BackoffMillis = ms
	}
	return out, problem{}
}

// compileMirrorFraction turns percent or fraction into a numerator and
// denominator (0/0 means every request).
func compileMirrorFraction(field string, m *gwv1.HTTPRequestMirrorFilter) (mirrorFilter, problem) {
	out := mirrorFilter{field: field + ".backendRef", ref: m.BackendRef}
	switch {
	case m.Percent != nil && m.Fraction != nil:
		return out, unsupportedValue(field, "percent and fraction are mutually exclusive")
	case m.Percent != nil:
		if *m.Percent < 0 || *m.Percent > 100 {
			return out, unsupportedValue(field+".percent", "%d is not in 0-100", *m.Percent)
		}
		if *m.Percent < 100 {
			out.numerator, out.denominator = uint32(*m.Percent), 100
		}
	case m.Fraction != nil:
		den := int32(100)
		if m.Fraction.Denominator != nil {
			den = *m.Fraction.Denominator
		}
		if den < 1 || m.Fraction.Numerator < 0 || m.Fraction.Numerator > den {
			return out, unsupportedValue(field+".fraction", "%d/%d is not a fraction in [0, 1]", m.Fraction.Numerator, den)
		}
		if m.Fraction.Numerator < den {
			out.numerator, out.denominator = uint32(m.Fraction.Numerator), uint32(den)
		}
	}
	return out, problem{}
}

// resolveMirrors resolves mirror backends. An unresolvable mirror is left
// out and reported through ResolvedRefs; the rule keeps serving.
func (t *translator) resolveMirrors(info routeInfo, ms []mirrorFilter, rep *ruleReport) []ir.Mirror {
	var out []ir.Mirror
	for _, m := range ms {
		c, p := t.resolveBackend(info.ref(), m.ref, m.field)
		if !p.ok() {
			rep.refProblem(p)
			continue
		}
		out = append(out, ir.Mirror{Cluster: c, Numerator: m.numerator, Denominator: m.denominator})
	}
	return out
}

// compileBackendFilters supports the header modifiers on a backendRef; any
// other filter type makes the rule invalid.
func compileBackendFilters(field string, filters []gwv1.HTTPRouteFilter) (req, resp *ir.HeaderModifier, _ problem) {
	for k, f := range filters {
		ff := fmt.Sprintf("%s.filters[%d]", field, k)
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			if f.RequestHeaderModifier == nil {
				return nil, nil, unsupportedValue(ff+".requestHeaderModifier", "required for type RequestHeaderModifier")
			}
			var p problem
			if req, p = mergeHeaders(ff+".requestHeaderModifier", req, f.RequestHeaderModifier); !p.ok() {
				return nil, nil, p
			}
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			if f.ResponseHeaderModifier == nil {
				return nil, nil, unsupportedValue(ff+".responseHeaderModifier", "required for type ResponseHeaderModifier")
			}
			var p problem
			if resp, p = mergeHeaders(ff+".responseHeaderModifier", resp, f.ResponseHeaderModifier); !p.ok() {
				return nil, nil, p
			}
		default:
			return nil, nil, unsupportedValue(ff+".type", "filter type %q is not supported on a backendRef (RequestHeaderModifier and ResponseHeaderModifier are)", f.Type)
		}
	}
	return req, resp, problem{}
}

// ruleName is the rule's segment of IR route names: its name if it has one.
func ruleName(i int, rule *gwv1.HTTPRouteRule) string {
	if rule.Name != nil && *rule.Name != "" {
		return string(*rule.Name)
	}
	return strconv.Itoa(i)
}
