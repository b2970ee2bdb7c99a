package infra

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestResourceName(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, tc := range []struct{ gateway, want string }{
		{"web", "web-edgeway"},
		{strings.Repeat("a", 55), strings.Repeat("a", 55) + "-edgeway"}, // exactly 63
		{"gw.example.com", "gw-example-com-"},                           // dot: hashed
		{"1gw", "gw-1gw-"},                                              // leading digit
		{long, strings.Repeat("a", 46) + "-"},                           // cut to fit
	} {
		got := ResourceName(tc.gateway)
		if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
			t.Errorf("ResourceName(%q) = %q: not a Service name: %v", tc.gateway, got, errs)
		}
		if !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, "-edgeway") {
			t.Errorf("ResourceName(%q) = %q, want prefix %q and suffix -edgeway", tc.gateway, got, tc.want)
		}
		if ResourceName(tc.gateway) != got {
			t.Errorf("ResourceName(%q) is not deterministic", tc.gateway)
		}
		if errs := validation.IsDNS1123Subdomain(SecretName(tc.gateway)); len(errs) > 0 {
			t.Errorf("SecretName(%q) = %q: %v", tc.gateway, SecretName(tc.gateway), errs)
		}
	}
	// Names that sanitise or cut to the same prefix stay distinct.
	pairs := [][2]string{{"gw.a", "gw-a"}, {long + "x", long + "y"}}
	for _, p := range pairs {
		if ResourceName(p[0]) == ResourceName(p[1]) {
			t.Errorf("%q and %q collide: %q", p[0], p[1], ResourceName(p[0]))
		}
	}
}
