package proxy

import (
	"net/http"

	"github.com/edgeway/edgeway/dataplane/config"
)

// CORS, as Envoy's envoy.filters.http.cors with a route CorsPolicy: a
// request whose Origin the policy allows is a CORS request. A preflight
// (OPTIONS with Access-Control-Request-Method) is answered 200 by the proxy;
// any other CORS request gets Access-Control-Allow-Origin (the request's
// Origin, never "*"), Allow-Credentials and Expose-Headers on its response,
// overriding the upstream's. A disallowed origin is not a CORS request: it
// is routed as usual without CORS headers.

const (
	hdrACAllowOrigin      = "Access-Control-Allow-Origin"
	hdrACAllowCredentials = "Access-Control-Allow-Credentials"
	hdrACAllowMethods     = "Access-Control-Allow-Methods"
	hdrACAllowHeaders     = "Access-Control-Allow-Headers"
	hdrACExposeHeaders    = "Access-Control-Expose-Headers"
	hdrACMaxAge           = "Access-Control-Max-Age"
)

// applyCORS answers a preflight (true: the request is done) or sets the
// CORS response headers of an actual request on w.
func applyCORS(hcm *config.HTTPManager, rt *config.Route, w http.ResponseWriter, r *http.Request) bool {
	p := rt.CORS
	if !hcm.CORS || p == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || !p.AllowsOrigin(origin) {
		return false
	}
	h := w.Header()
	h.Set(hdrACAllowOrigin, origin)
	if p.AllowCredentials {
		h.Set(hdrACAllowCredentials, "true")
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if p.AllowMethods != "" {
			h.Set(hdrACAllowMethods, p.AllowMethods)
		}
		if p.AllowHeaders != "" {
			h.Set(hdrACAllowHeaders, p.AllowHeaders)
		}
		if p.MaxAge != "" {
			h.Set(hdrACMaxAge, p.MaxAge)
		}
		w.WriteHeader(http.StatusOK)
		return true
	}
	if p.ExposeHeaders != "" {
		h.Set(hdrACExposeHeaders, p.ExposeHeaders)
	}
	return false
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
