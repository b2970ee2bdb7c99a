package ir

import (
	"strings"
)

// routeFeatures checks timeouts, retries, mirrors, CORS and per-backend
// header modifiers of one route.
func (v *validator) routeFeatures(at *loc, r *Route) {
	if f := r.Forward; f != nil {
		if t := f.Timeouts; t != nil && t.RequestMillis != nil && t.BackendRequestMillis != nil &&
			*t.RequestMillis != 0 && *t.BackendRequestMillis > *t.RequestMillis {
			v.addf("%s.forward.timeouts.backendRequestMillis: %d exceeds requestMillis %d", at.String(), *t.BackendRequestMillis, *t.RequestMillis)
		}
		if rt := f.Retry; rt != nil {
			for i, c := range rt.Codes {
				if c < 400 || c > 599 {
					v.addf("%s.forward.retry.codes[%d]: %d is not in 400-599", at.String(), i, c)
				}
				if i > 0 && rt.Codes[i-1] >= c {
					v.addf("%s.forward.retry.codes: must be sorted and unique", at.String())
				}
			}
		}
		for i, m := range f.Mirrors {
			if !v.noRefs && !v.clusters[m.Cluster] {
				v.addf("%s.forward.mirrors[%d].cluster: cluster %q does not exist", at.String(), i, m.Cluster)
			}
			if m.Denominator != 0 && m.Numerator > m.Denominator {
				v.addf("%s.forward.mirrors[%d]: numerator %d exceeds denominator %d", at.String(), i, m.Numerator, m.Denominator)
			}
		}
		for i, b := range f.Backends {
			v.headerModifier(at.idx(".forward.backends", i).f(".requestHeaders"), b.RequestHeaders)
			v.headerModifier(at.idx(".forward.backends", i).f(".responseHeaders"), b.ResponseHeaders)
		}
	}
	if c := r.CORS; c != nil {
		for i, o := range c.AllowOrigins {
			if o != "*" && !strings.Contains(o, "://") {
				v.addf("%s.cors.allowOrigins[%d]: %q is not \"*\" or scheme://host[:port]", at.String(), i, o)
			}
		}
		for _, list := range [][]string{c.AllowMethods, c.AllowHeaders, c.ExposeHeaders} {
			for _, h := range list {
				if h != "*" && !validHeaderName(h) {
					v.addf("%s.cors: %q is not a method or header name", at.String(), h)
				}
			}
		}
		if c.MaxAgeSeconds < 0 {
			v.addf("%s.cors.maxAgeSeconds: %d is negative", at.String(), c.MaxAgeSeconds)
		}
	}
}
