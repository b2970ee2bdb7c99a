package gatewayapi

import (
	"slices"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestNormalizeCORSOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"*":                     "*",
		"https://www.foo.com":   "https://www.foo.com",
		"https://WWW.Foo.com":   "https://www.foo.com",
		"https://a.test:443":    "https://a.test",
		"http://a.test:80":      "http://a.test",
		"http://*.bar.com:80":   "http://*.bar.com",
		"http://a.test:443":     "http://a.test:443",   // not http's default
		"https://a.test:80":     "https://a.test:80",   // not https's default
		"https://a.test:4430":   "https://a.test:4430", // a longer port, not :443
		"https://a.test:8443":   "https://a.test:8443",
		"https://192.0.2.1:443": "https://192.0.2.1",
	} {
		if got := normalizeCORSOrigin(in); got != want {
			t.Errorf("normalizeCORSOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCompileCORS: what sources that skip CRD defaulting still get, and
// the credentials rule for exposeHeaders.
func TestCompileCORS(t *testing.T) {
	yes, no := true, false
	got, p := compileCORS("f", &gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"*"}, ExposeHeaders: []gwv1.HTTPHeaderName{"*", "X-A"}, AllowCredentials: &yes})
	if !p.ok() || got.MaxAgeSeconds != 5 || !slices.Equal(got.ExposeHeaders, []string{"X-A"}) || !got.AllowCredentials {
		t.Errorf("with credentials: %+v %+v; want maxAge 5 and exposeHeaders [X-A]", got, p)
	}
	got, p = compileCORS("f", &gwv1.HTTPCORSFilter{ExposeHeaders: []gwv1.HTTPHeaderName{"*"}, AllowCredentials: &no, MaxAge: 60})
	if !p.ok() || got.MaxAgeSeconds != 60 || !slices.Equal(got.ExposeHeaders, []string{"*"}) || got.AllowCredentials {
		t.Errorf("without credentials: %+v %+v; want maxAge 60 and exposeHeaders [*]", got, p)
	}
	if _, p := compileCORS("f", &gwv1.HTTPCORSFilter{MaxAge: -1}); p.ok() || p.message != "f.maxAge: -1 is negative" {
		t.Errorf("negative maxAge: %+v", p)
	}
}
