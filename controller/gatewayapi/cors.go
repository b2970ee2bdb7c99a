package gatewayapi

import (
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// defaultCORSMaxAge is Access-Control-Max-Age when maxAge is unset: the
// API's default (its CRD fills it in; sources that skip CRD defaulting
// get it here).
const defaultCORSMaxAge = 5

// compileCORS turns an HTTPCORSFilter into the IR policy, resolving what
// Gateway API defines beyond the header values themselves:
//   - maxAge defaults to 5 seconds;
//   - allowOrigins are compared with the Origin a browser sends, which is
//     serialized with a lowercase host and without the scheme's default
//     port, so they are normalized the same way ("https://A.test:443"
//     allows "https://a.test");
//   - with allowCredentials, "*" in exposeHeaders must not be sent (a
//     browser would read it as a header named "*"): it is left out, the
//     named headers stay.
//
// "*" in allowMethods / allowHeaders stays: the data plane answers a
// preflight with the method and headers it asked for, which is right with
// and without credentials.
func compileCORS(field string, c *gwv1.HTTPCORSFilter) (*ir.CORS, problem) {
	if c.MaxAge < 0 {
		return nil, unsupportedValue(field+".maxAge", "%d is negative", c.MaxAge)
	}
	out := &ir.CORS{MaxAgeSeconds: c.MaxAge}
	if out.MaxAgeSeconds == 0 {
		out.MaxAgeSeconds = defaultCORSMaxAge
	}
	if c.AllowCredentials != nil {
		out.AllowCredentials = *c.AllowCredentials
	}
	for _, o := range c.AllowOrigins {
		out.AllowOrigins = append(out.AllowOrigins, normalizeCORSOrigin(string(o)))
	}
	for _, m := range c.AllowMethods {
		out.AllowMethods = append(out.AllowMethods, string(m))
	}
	for _, h := range c.AllowHeaders {
		out.AllowHeaders = append(out.AllowHeaders, string(h))
	}
	for _, h := range c.ExposeHeaders {
		if h == "*" && out.AllowCredentials {
			continue
		}
		out.ExposeHeaders = append(out.ExposeHeaders, string(h))
	}
	return out, problem{}
}

// normalizeCORSOrigin lowercases an allowed origin and removes the
// scheme's default port (80 for http, 443 for https), as the browser's
// serialization of the Origin header does. "*" is returned as is.
func normalizeCORSOrigin(o string) string {
	scheme, hostport, ok := strings.Cut(strings.ToLower(o), "://")
	if !ok {
		return o
	}
	switch {
	case scheme == "http" && strings.HasSuffix(hostport, ":80"):
		hostport = strings.TrimSuffix(hostport, ":80")
	case scheme == "https" && strings.HasSuffix(hostport, ":443"):
		hostport = strings.TrimSuffix(hostport, ":443")
	}
	return scheme + "://" + hostport
}
