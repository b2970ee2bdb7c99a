package kube

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestBuildReusesCopiesOfUnchangedObjects runs the Kubernetes source
// against a real kube-apiserver and follows the copies its builds hand
// out (copies.go): after an update of one HTTPRoute the next Snapshot has
// that route's new content in a new object and every unchanged object
// (the other route, the Gateway, its class, the Namespace, the referenced
// Service and EndpointSlice) as the same pointer as before; a deleted route
// is gone, and one recreated under the same name (a new UID) is a new
// object. Then, with the manager stopped, it writes into a Snapshot's
// objects and checks that the informer cache's objects did not change.
func TestBuildReusesCopiesOfUnchangedObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	c := api.Client
	const ns, controller = "copies", "edgeway.dev/test-copies"
	src, stop := startStoppableSource(t, api, controller)

	route := func(name, path string) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
				Hostnames:       []gwv1.Hostname{gwv1.Hostname(name + ".example.com")},
				Rules: []gwv1.HTTPRouteRule{{
					Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(path)}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "backend", Port: ptr.To(gwv1.PortNumber(80))}}}},
				}},
			},
		}
	}
	create(t, c,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "edge"}}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "copies"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}},
		&gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "copies", Listeners: []gwv1.Listener{
				{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
			}},
		},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "backend-1", Labels: map[string]string{serviceNameLabel: "backend"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.10"}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
		},
		route("a", "/a"), route("b", "/b"),
	)
	first := waitFor(t, src, "both routes and the backend", func(r *Result) error {
		if findRoute(r.Snapshot, ns, "a") == nil || findRoute(r.Snapshot, ns, "b") == nil {
			return fmt.Errorf("routes not listed")
		}
		if len(r.Snapshot.Services) != 1 || len(r.Snapshot.EndpointSlices) != 1 {
			return fmt.Errorf("%d Services and %d EndpointSlices, want 1 and 1", len(r.Snapshot.Services), len(r.Snapshot.EndpointSlices))
		}
		return nil
	}).Snapshot

	// An update of route a: a new copy of a, the same copies of the rest.
	live := &gwv1.HTTPRoute{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "a"}, live); err != nil {
		t.Fatal(err)
	}
	live.Spec.Rules[0].Matches[0].Path.Value = ptr.To("/a2")
	if err := c.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	second := waitFor(t, src, "route a updated", func(r *Result) error {
		if a := findRoute(r.Snapshot, ns, "a"); a == nil || *a.Spec.Rules[0].Matches[0].Path.Value != "/a2" {
			return fmt.Errorf("route a not updated")
		}
		return nil
	}).Snapshot
	if findRoute(second, ns, "a") == findRoute(first, ns, "a") {
		t.Error("the updated route a is the previous build's object")
	}
	if *findRoute(first, ns, "a").Spec.Rules[0].Matches[0].Path.Value != "/a" {
		t.Error("the previous Snapshot's route a changed with the update")
	}
	same := func(what string, a, b any) {
		t.Helper()
		if a != b {
			t.Errorf("%s: a new object, want the previous build's (unchanged)", what)
		}
	}
	same("route b", findRoute(second, ns, "b"), findRoute(first, ns, "b"))
	same("the Gateway", second.Gateways[0], first.Gateways[0])
	same("the GatewayClass", second.GatewayClasses[0], first.GatewayClasses[0])
	same("the Namespace", findNamespace(second, ns), findNamespace(first, ns))
	same("the Service", second.Services[0], first.Services[0])
	same("the EndpointSlice", second.EndpointSlices[0], first.EndpointSlices[0])

	// Deleted: gone. Recreated under the same name: a new object.
	oldB := findRoute(second, ns, "b")
	if err := c.Delete(context.Background(), route("b", "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, src, "route b deleted", func(r *Result) error {
		if findRoute(r.Snapshot, ns, "b") != nil {
			return fmt.Errorf("route b still listed")
		}
		return nil
	})
	create(t, c, route("b", "/b"))
	third := waitFor(t, src, "route b recreated", func(r *Result) error {
		if findRoute(r.Snapshot, ns, "b") == nil {
			return fmt.Errorf("route b not listed")
		}
		return nil
	}).Snapshot
	newB := findRoute(third, ns, "b")
	if newB == oldB || newB.UID == oldB.UID {
		t.Errorf("the recreated route b (UID %s) is the deleted one's copy (UID %s)", newB.UID, oldB.UID)
	}
	same("route a after b's deletion", findRoute(third, ns, "a"), findRoute(second, ns, "a"))

	// Writing into a Snapshot's objects leaves the cache's objects as they
	// were (the manager is stopped: nothing else reads or writes them now).
	stop()
	cached := func(kind, key string) client.Object {
		t.Helper()
		o, ok, err := src.kinds.store(kind).GetByKey(key)
		if err != nil || !ok {
			t.Fatalf("%s %s not in the cache: %v", kind, key, err)
		}
		return o.(client.Object).DeepCopyObject().(client.Object)
	}
	keys := [][2]string{{"HTTPRoute", ns + "/a"}, {"Namespace", ns}, {"Service", ns + "/backend"}, {"EndpointSlice", ns + "/backend-1"}}
	before := map[[2]string]client.Object{}
	for _, k := range keys {
		before[k] = cached(k[0], k[1])
	}
	a := findRoute(third, ns, "a")
	a.Labels["app"] = "written"
	a.Spec.Hostnames[0] = "written.example.com"
	*a.Spec.Rules[0].Matches[0].Path.Value = "/written"
	a.Spec.Rules[0].BackendRefs[0].Name = "written"
	findNamespace(third, ns).Labels["team"] = "written"
	third.Services[0].Spec.Ports[0].Port = 81
	third.EndpointSlices[0].Endpoints[0].Addresses[0] = "198.18.0.11"
	*third.EndpointSlices[0].Ports[0].Port = 8081
	for _, k := range keys {
		if got := cached(k[0], k[1]); !reflect.DeepEqual(got, before[k]) {
			t.Errorf("writing into the Snapshot's %s %s changed the cache's:\n got %+v\nwant %+v", k[0], k[1], got, before[k])
		}
	}
}

func findRoute(s *snapshot.Snapshot, ns, name string) *gwv1.HTTPRoute {
	for _, r := range s.HTTPRoutes {
		if r.Namespace == ns && r.Name == name {
			return r
		}
	}
	return nil
}

func findNamespace(s *snapshot.Snapshot, name string) *corev1.Namespace {
	for _, n := range s.Namespaces {
		if n.Name == name {
			return n
		}
	}
	return nil
}
