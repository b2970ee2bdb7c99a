package ir

import (
	"fmt"
	"strings"
)

// routeFeatures checks timeouts, retries, mirrors, CORS and per-backend
// header modifiers of one route.
func (v *validator) routeFeatures(at string, r *Route) {
	if f := r.Forward; f != nil {
		if t := f.Timeouts; t != nil && t.RequestMillis != nil && t.BackendRequestMillis != nil &&
			*t.RequestMillis != 0 && *t.BackendRequestMillis > *t.RequestMillis {
			v.addf("%s.forward.timeouts.backendRequestMillis: %d exceeds requestMillis %d", at, *t.BackendRequestMillis, *t.RequestMillis)
		}
		if rt := f.Retry; rt != nil {
			for i, c := range rt.Codes {
				if c < 400 || c > 599 {
					v.addf("%s.forward.retry.codes[%d]: %d is not in 400-599", at, i, c)
				}
				if i > 0 && rt.Codes[i-1] >= c {
					v.addf("%s.forward.retry.codes: must be sorted and unique", at)
				}
			}
		}
		for i, m := range f.Mirrors {
			if !v.clusters[m.Cluster] {
				v.addf("%s.forward.mirrors[%d].cluster: cluster %q does not exist", at, i, m.Cluster)
			}
			if m.Denominator != 0 && m.Numerator > m.Denominator {
				v.addf("%s.forward.mirrors[%d]: numerator %d exceeds denominator %d", at, i, m.Numerator, m.Denominator)
			}
		}
		for i, b := range f.Backends {
			v.headerModifier(fmt.Sprintf("%s.forward.backends[%d].requestHeaders", at, i), b.RequestHeaders)
			v.headerModifier(fmt.Sprintf("%s.forward.backends[%d].responseHeaders", at, i), b.ResponseHeaders)
		}
	}
	if c := r.CORS; c != nil {
		for i, o := range c.AllowOrigins {
			if o != "*" && !strings.Contains(o, "://") {
				v.addf("%s.cors.allowOrigins[%d]: %q is not \"*\" or scheme://host[:port]", at, i, o)
			}
		}
		for _, list := range [][]string{c.AllowMethods, c.AllowHeaders, c.ExposeHeaders} {
			for _, h := range list {
				if h != "*" && !validHeaderName(h) {
					v.addf("%s.cors: %q is not a method or header name", at, h)
				}
			}
		}
		if c.MaxAgeSeconds < 0 {
			v.addf("%s.cors.maxAgeSeconds: %d is negative", at, c.MaxAgeSeconds)
		}
	}
}
