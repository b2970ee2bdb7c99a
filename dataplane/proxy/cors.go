package proxy

import (
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// CORS, as Envoy's envoy.filters.http.cors with a route CorsPolicy: a
// request whose Origin the policy allows is a CORS request. Every CORS
// response, the proxy's own preflight answer included (Envoy's local reply
// passes through the filter's encode path), carries
// Access-Control-Allow-Origin (the request's Origin, never "*"),
// Allow-Credentials and Expose-Headers, overriding the upstream's. A
// preflight (OPTIONS with Access-Control-Request-Method) is answered 200 by
// the proxy with Allow-Methods, Allow-Headers and Max-Age besides. A
// request from a disallowed origin gets no CORS headers: it is routed as
// usual, except a preflight when forward_not_matching_preflights is false,
// which the proxy answers 200 itself.

const (
	hdrACAllowOrigin      = "Access-Control-Allow-Origin"
	hdrACAllowCredentials = "Access-Control-Allow-Credentials"
	hdrACAllowMethods     = "Access-Control-Allow-Methods"
	hdrACAllowHeaders     = "Access-Control-Allow-Headers"
	hdrACExposeHeaders    = "Access-Control-Expose-Headers"
	hdrACMaxAge           = "Access-Control-Max-Age"
	hdrACRequestMethod    = "Access-Control-Request-Method"
	hdrACRequestHeaders   = "Access-Control-Request-Headers"
)

// applyCORS answers a preflight (true: the request is done) or sets the
// CORS response headers of an actual request on w.
func applyCORS(hcm *config.HTTPManager, rt *config.Route, w http.ResponseWriter, r *http.Request) bool {
	p := rt.CORS
	if !hcm.CORS || p == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	requestMethod := r.Header.Get(hdrACRequestMethod)
	preflight := r.Method == http.MethodOptions && requestMethod != ""
	if !p.AllowsOrigin(origin) {
		if preflight && !p.ForwardNotMatchingPreflights {
			// Denied: an OK status without any CORS header, so that the
			// browser fails the preflight. (Envoy adds the policy's
			// Allow-Methods/-Headers/-Credentials and Max-Age, which a
			// browser ignores without Allow-Origin; Gateway API asks for
			// none.)
			w.WriteHeader(http.StatusOK)
			return true
		}
		return false
	}
	h := w.Header()
	h.Set(hdrACAllowOrigin, origin)
	if p.AllowCredentials {
		h.Set(hdrACAllowCredentials, "true")
	}
	if p.ExposeHeaders != "" {
		h.Set(hdrACExposeHeaders, p.ExposeHeaders)
	}
	if !preflight {
		return false
	}
	// "*" allows whatever the preflight asks for; the answer names it
	// (Envoy's behaviour) because with credentials a browser reads "*"
	// as a literal method or header name, not as a wildcard.
	if m := p.AllowMethods; m == "*" {
		h.Set(hdrACAllowMethods, requestMethod)
	} else if m != "" {
		h.Set(hdrACAllowMethods, m)
	}
	if a := p.AllowHeaders; a == "*" {
		// Nothing asked for, nothing to allow: the header is omitted.
		if requested := r.Header.Values(hdrACRequestHeaders); len(requested) > 0 {
			// Repeated field lines fold into one list (RFC 9110 5.3).
			h.Set(hdrACAllowHeaders, strings.Join(requested, ", "))
		}
	} else if a != "" {
		h.Set(hdrACAllowHeaders, a)
	}
	if p.MaxAge != "" {
		h.Set(hdrACMaxAge, p.MaxAge)
	}
	w.WriteHeader(http.StatusOK)
	return true
}

// dropUpstreamCORS removes from an upstream response the CORS headers the
// proxy already set on w, so that the policy's values win (Envoy
// overwrites them) instead of being duplicated.
func dropUpstreamCORS(w http.ResponseWriter, resp http.Header) {
	for _, k := range []string{hdrACAllowOrigin, hdrACAllowCredentials, hdrACExposeHeaders} {
		if _, ok := w.Header()[k]; ok {
			delete(resp, k)
		}
	}
}
