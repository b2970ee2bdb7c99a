package xds

import (
	"regexp"
	"testing"
)

// TestOriginMatcher: the Gateway API wildcard semantics of allowOrigins, as
// Envoy evaluates the emitted matcher (exact, or RE2 over the whole value).
func TestOriginMatcher(t *testing.T) {
	for _, tc := range []struct {
		allow  string
		origin string
		want   bool
	}{
		{"*", "https://foobar.com:12345", true},
		{"*", "null", true},
		{"https://www.foo.com", "https://www.foo.com", true},
		{"https://www.foo.com", "https://www.foo.com:8443", false},
		{"https://www.foo.com", "http://www.foo.com", false},
		{"https://*.bar.com", "https://www.bar.com", true},
		{"https://*.bar.com", "https://xpto.www.bar.com", true}, // any number of labels
		{"https://*.bar.com", "https://www.bar.com:8443", false},
		{"https://*.bar.com", "http://www.bar.com", false},
		{"https://*.bar.com", "https://www.bar.com.evil.test", false},
		{"https://*.bar.com", "https://wwwxbar.com", false}, // "." is literal
		{"https://*", "https://a.example", true},
		{"https://*", "https://a.example:8443", false}, // the host wildcard stops at the port
		{"http://*:8080", "http://a.example:8080", true},
		{"http://*:8080", "http://a.example", false},
	} {
		m := originMatcher(tc.allow)
		var got bool
		if re := m.GetSafeRegex().GetRegex(); re != "" {
			got = regexp.MustCompile(`^(?:` + re + `)$`).MatchString(tc.origin)
		} else {
			got = m.GetExact() == tc.origin
		}
		if got != tc.want {
			t.Errorf("allowOrigin %q (matcher %v) vs Origin %q: %v, want %v", tc.allow, m, tc.origin, got, tc.want)
		}
	}
}
