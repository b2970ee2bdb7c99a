package gatewayapi

import (
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServiceEntryVisibility: exportTo as Istio defines it, plus "~".
func TestServiceEntryVisibility(t *testing.T) {
	se := func(exportTo ...string) *istionet.ServiceEntry {
		o := &istionet.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: "own"}}
		o.Spec.ExportTo = exportTo
		return o
	}
	for _, tc := range []struct {
		exportTo []string
		ns       string
		want     bool
	}{
		{nil, "any", true},
		{[]string{"*"}, "any", true},
		{[]string{"."}, "own", true},
		{[]string{"."}, "other", false},
		{[]string{"~"}, "own", false},
		{[]string{"team"}, "team", true},
		{[]string{"team"}, "own", false},
		{[]string{".", "team"}, "own", true},
	} {
		if got := exportedTo(se(tc.exportTo...), tc.ns); got != tc.want {
			t.Errorf("exportTo %q, namespace %s: %v, want %v", tc.exportTo, tc.ns, got, tc.want)
		}
	}
	a, b := visibilityOf(se(".")), visibilityOf(se("*"))
	if got := a.intersect(b).String(); got != "namespace own" {
		t.Errorf("intersection %q", got)
	}
	if !visibilityOf(se("~")).intersect(b).empty() {
		t.Error(`"~" intersects "*"`)
	}
}

// TestServiceEntryUnservable: each entry that cannot be a backend says why
// and what to do.
func TestServiceEntryUnservable(t *testing.T) {
	port := &networking.ServicePort{Number: 80, Name: "http", Protocol: "HTTP"}
	for _, tc := range []struct {
		name string
		spec func(*networking.ServiceEntry)
		want string
	}{
		{"dns-wildcards", func(s *networking.ServiceEntry) {
			s.Hosts, s.Resolution = []string{"*.example.com"}, networking.ServiceEntry_DNS
		}, "only wildcard hosts: there is no name to resolve"},
		{"none-wildcards", func(s *networking.ServiceEntry) {
			s.Hosts, s.Resolution = []string{"*.example.com"}, networking.ServiceEntry_NONE
		}, "a gateway has no original destination"},
		{"selector", func(s *networking.ServiceEntry) {
			s.Hosts, s.Resolution = []string{"a.example.com"}, networking.ServiceEntry_STATIC
			s.WorkloadSelector = &networking.WorkloadSelector{Labels: map[string]string{"app": "a"}}
		}, "route to their Service instead, or list spec.endpoints"},
	} {
		se := &istionet.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: tc.name}}
		tc.spec(&se.Spec)
		_, p := seClusterFor(se, port, "c", "f")
		if p.ok() || p.reason != "UnsupportedValue" || !strings.Contains(p.message, tc.want) {
			t.Errorf("%s: %+v, want UnsupportedValue saying %q", tc.name, p, tc.want)
		}
	}
}
