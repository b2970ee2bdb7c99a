package gatewayapi

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorSkipsReplayOnlyForUnchangedDependencies: on http-basic,
// with the routes the same objects throughout, the Translator takes every
// compilation without replaying it while no object a resolution reads
// changed (the same objects in new lists; an EndpointSlice's address,
// which only fills a cluster), and replays them when one did (the
// Service's port, which the route's backendRef names: then it compiles
// the route again; the Service, then its Namespace, put into the Istio
// mesh, which makes the resolution a problem for a Gateway without a mesh
// identity). Each translation equals Translate's.
func TestTranslatorSkipsReplayOnlyForUnchangedDependencies(t *testing.T) {
	snap := loadVersioned(t, "testdata/http-basic.in.yaml")
	var tr Translator
	tr.Translate(snap)
	service := func(s *snapshot.Snapshot, name string, change func(*corev1.Service)) {
		i := slices.IndexFunc(s.Services, func(x *corev1.Service) bool { return x.Name == name })
		c := s.Services[i].DeepCopy()
		change(c)
		s.Services = slices.Clone(s.Services)
		s.Services[i] = c
	}
	steps := []struct {
		name string
		edit func(*snapshot.Snapshot)
		fast bool
	}{
		{"the same objects in new lists", func(s *snapshot.Snapshot) { s.Services = slices.Clone(s.Services) }, true},
		{"EndpointSlice address changed", func(s *snapshot.Snapshot) {
			es := s.EndpointSlices[0].DeepCopy()
			es.Endpoints[0].Addresses = []string{"10.0.9.9"}
			s.EndpointSlices = slices.Clone(s.EndpointSlices)
			s.EndpointSlices[0] = es
		}, true},
		{"Service echo's port changed", func(s *snapshot.Snapshot) {
			service(s, "echo", func(c *corev1.Service) { c.Spec.Ports[0].Port = 8081 })
		}, false},
		{"unchanged again", func(*snapshot.Snapshot) {}, true},
		{"Service echo in the mesh", func(s *snapshot.Snapshot) {
			service(s, "echo", func(c *corev1.Service) { c.Labels = map[string]string{labelIstioTLSMode: "istio"} })
		}, false},
		{"Namespace default in the mesh", func(s *snapshot.Snapshot) {
			ns := &corev1.Namespace{}
			ns.Name, ns.Labels = "default", map[string]string{labelIstioInjection: "enabled"}
			s.Namespaces = append(slices.Clone(s.Namespaces), ns)
			s.Sort()
		}, false},
		{"unchanged once more", func(*snapshot.Snapshot) {}, true},
	}
	for _, step := range steps {
		next := *snap
		step.edit(&next)
		snap = &next
		wantIR, wantSt := Translate(snap)
		gotIR, gotSt := tr.Translate(snap)
		if want, got := render(t, wantIR, wantSt), render(t, gotIR, gotSt); !bytes.Equal(got, want) {
			t.Fatalf("%s: the Translator's output differs from Translate's\n%s", step.name, diff(string(want), string(got)))
		}
		if step.fast && (tr.Compiled != 0 || tr.FastReused == 0 || tr.FastReused != tr.Reused) {
			t.Fatalf("%s: the Translator compiled %d routes and reused %d, %d without replay; want every compilation reused without replay", step.name, tr.Compiled, tr.Reused, tr.FastReused)
		}
		if !step.fast && tr.FastReused != 0 {
			t.Fatalf("%s: the Translator reused %d compilations without replay after a dependency changed", step.name, tr.FastReused)
		}
	}
}

// TestDependenciesSameComparesEveryList: every list of a Snapshot but the
// HTTPRoutes and EndpointSlices, and its scalar fields, take part in
// dependenciesSame, so a list added to Snapshot is not forgotten there.
func TestDependenciesSameComparesEveryList(t *testing.T) {
	typ := reflect.TypeFor[snapshot.Snapshot]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var a, b snapshot.Snapshot
		v := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Slice:
			one := reflect.MakeSlice(f.Type, 1, 1)
			if f.Type.Elem().Kind() == reflect.Pointer {
				one.Index(0).Set(reflect.New(f.Type.Elem().Elem()))
			}
			v.Set(one)
		case reflect.String:
			v.SetString("changed")
		case reflect.Bool:
			v.SetBool(true)
		default:
			t.Fatalf("Snapshot.%s is a %s: say in dependenciesSame whether a backend resolution reads it", f.Name, f.Type)
		}
		ignored := f.Name == "HTTPRoutes" || f.Name == "EndpointSlices"
		if got := dependenciesSame(&a, &b); got != ignored {
			t.Errorf("dependenciesSame with Snapshot.%s changed = %v, want %v", f.Name, got, ignored)
		}
	}
}

// TestRoutesInOrder: the fast path needs sorted routes, each name once.
func TestRoutesInOrder(t *testing.T) {
	route := func(ns, name string) *gwv1.HTTPRoute {
		r := &gwv1.HTTPRoute{}
		r.Namespace, r.Name = ns, name
		return r
	}
	a, b, c := route("a", "x"), route("b", "a"), route("b", "b")
	for _, tc := range []struct {
		routes []*gwv1.HTTPRoute
		want   bool
	}{
		{nil, true},
		{[]*gwv1.HTTPRoute{a, nil, b, c}, true},
		{[]*gwv1.HTTPRoute{a, c, b}, false},
		{[]*gwv1.HTTPRoute{a, b, route("b", "a")}, false},
	} {
		if got := routesInOrder(tc.routes); got != tc.want {
			t.Errorf("routesInOrder(%d routes) = %v, want %v", len(tc.routes), got, tc.want)
		}
	}
}
