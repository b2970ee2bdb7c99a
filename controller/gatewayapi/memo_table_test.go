package gatewayapi

import (
	"bytes"
	"slices"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorRouteTableShapeEdits: an HTTPRoute edit that keeps every
// route's hostnames keeps each route table's shape (its domains and the
// attachments covering each, memo_table.go) and the Translator reuses it;
// an edit of a route's hostnames (one replaced, one added) or a route
// deleted changes the shape, and the Translator
// computes it again. Either way its output equals Translate's. The random
// edits of TestTranslatorEqualsTranslate reach these too; here each is
// made once, on the input with the most hostnames per route.
func TestTranslatorRouteTableShapeEdits(t *testing.T) {
	cases := []struct {
		name      string
		edit      func(*snapshot.Snapshot)
		keepShape bool
	}{
		{"wildcard-route: another path", func(s *snapshot.Snapshot) {
			r := httpRoute(s, "wildcard-route")
			v := "/elsewhere"
			r.Spec.Rules[0].Matches[0].Path.Value = &v
		}, true},
		{"wildcard-route: status written", func(s *snapshot.Snapshot) {
			r := httpRoute(s, "wildcard-route")
			r.Generation-- // a status write keeps the generation
			r.Status.Parents = nil
		}, true},
		{"wildcard-route: a hostname replaced", func(s *snapshot.Snapshot) {
			httpRoute(s, "wildcard-route").Spec.Hostnames[1] = "lower.example.com"
		}, false},
		// A route's domains on a listener are sorted (effectiveHostnames):
		// its hostnames in another order attach the same.
		{"wildcard-route: hostnames in another order", func(s *snapshot.Snapshot) {
			slices.Reverse(httpRoute(s, "wildcard-route").Spec.Hostnames)
		}, true},
		{"other-domain: a hostname added", func(s *snapshot.Snapshot) {
			r := httpRoute(s, "other-domain")
			r.Spec.Hostnames = append(r.Spec.Hostnames, "api.other.test")
		}, false},
		{"deep deleted", func(s *snapshot.Snapshot) {
			s.HTTPRoutes = slices.DeleteFunc(slices.Clone(s.HTTPRoutes), func(r *gwv1.HTTPRoute) bool { return r.Name == "deep" })
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := loadVersioned(t, "testdata/http-hostnames.in.yaml")
			var tr Translator
			tr.Translate(base)
			before := maps2(tr.tables.cur)
			edited := *base
			c.edit(&edited)
			wantIR, wantSt := Translate(&edited)
			gotIR, gotSt := tr.Translate(&edited)
			want, got := render(t, wantIR, wantSt), render(t, gotIR, gotSt)
			if !bytes.Equal(got, want) {
				t.Fatalf("the Translator's output differs from Translate's\n%s", diff(string(want), string(got)))
			}
			kept := 0
			for name, m := range tr.tables.cur {
				if prev := before[name]; prev != nil && len(m.domains) > 0 && &m.domains[0] == &prev.domains[0] {
					kept++
				}
			}
			if len(before) == 0 {
				t.Fatal("the first translation recorded no route table: the test proves nothing")
			}
			if got := kept == len(before); got != c.keepShape {
				t.Fatalf("%d of %d route tables kept their shape; want all kept: %v", kept, len(before), c.keepShape)
			}
		})
	}
}

// httpRoute replaces the HTTPRoute name in s by a copy with a new
// resourceVersion and generation and returns the copy.
func httpRoute(s *snapshot.Snapshot, name string) *gwv1.HTTPRoute {
	i := slices.IndexFunc(s.HTTPRoutes, func(r *gwv1.HTTPRoute) bool { return r.Name == name })
	r := s.HTTPRoutes[i].DeepCopy()
	r.ResourceVersion = nextVersion()
	r.Generation++
	s.HTTPRoutes = slices.Clone(s.HTTPRoutes)
	s.HTTPRoutes[i] = r
	return r
}

// maps2 copies a route table memo map (the Translator reuses its maps).
func maps2(m map[string]*routeTableMemo) map[string]*routeTableMemo {
	out := make(map[string]*routeTableMemo, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
