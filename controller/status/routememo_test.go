package status

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// routeGets counts the Gets of HTTPRoutes through a real client: how many
// routes a pass read.
type routeGets struct {
	client.Client
	n atomic.Int64
}

func (c *routeGets) Get(ctx context.Context, key types.NamespacedName, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*gwv1.HTTPRoute); ok {
		c.n.Add(1)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// TestPassSkipsRoutesInLine: against a real kube-apiserver, a pass over a
// new translation with the same translated statuses reads no route the
// previous pass left in line, and a pass over the same translation again
// (an ACK's) reads no route at all; a route someone else wrote since is
// read and put back in line by the next translation's pass (its Snapshot
// holds the new resourceVersion), a route whose translated status changed
// is written, and a route whose statuses are an equal but new slice is read
// again (the skip goes by identity).
func TestPassSkipsRoutesInLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ctx := context.Background()
	const ns, controller = "inline", "edgeway.dev/test-status-inline"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}}}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}}}},
	} {
		if err := api.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	parents := func(reason string) []gwv1.RouteParentStatus {
		// Group and Kind as translation writes them (and the API server
		// defaults them).
		ref := gwv1.ParentReference{Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("Gateway")), Name: "web"}
		return []gwv1.RouteParentStatus{{ParentRef: ref, ControllerName: controller,
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: reason, Message: reason}}}}
	}
	statuses := &gatewayapi.Statuses{Routes: []gatewayapi.RouteStatus{
		{Kind: "HTTPRoute", Namespace: ns, Name: "a", Status: gwv1.RouteStatus{Parents: parents("Accepted")}},
		{Kind: "HTTPRoute", Namespace: ns, Name: "b", Status: gwv1.RouteStatus{Parents: parents("Accepted")}},
	}}
	// translation is a new Input, as the source hands one over after each
	// translation: a Snapshot of the routes as they are now.
	var in *Input
	translation := func() {
		t.Helper()
		routes := &gwv1.HTTPRouteList{}
		if err := api.Client.List(ctx, routes, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		snap := &snapshot.Snapshot{ControllerName: controller}
		for i := range routes.Items {
			snap.HTTPRoutes = append(snap.HTTPRoutes, &routes.Items[i])
		}
		in = &Input{Snapshot: snap, Statuses: statuses}
	}
	c := &routeGets{Client: api.Client}
	w := NewWriter(Options{ControllerName: controller, Client: c, APIReader: api.Client, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pass := func(what string, wantGets, wantWrites int64) {
		t.Helper()
		gets, writes := c.n.Load(), w.Writes()
		if err := w.pass(ctx, in); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := c.n.Load() - gets; got != wantGets {
			t.Errorf("%s: %d routes read, want %d", what, got, wantGets)
		}
		if got := int64(w.Writes() - writes); got != wantWrites {
			t.Errorf("%s: %d statuses written, want %d", what, got, wantWrites)
		}
	}
	reason := func(name string) string {
		t.Helper()
		r := &gwv1.HTTPRoute{}
		if err := api.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Status.Parents {
			if p.ControllerName == controller && len(p.Conditions) > 0 {
				return p.Conditions[0].Reason
			}
		}
		return ""
	}

	translation()
	pass("first pass", 2, 2)
	pass("the same translation again (an ACK's pass)", 0, 0)
	translation()
	pass("a new translation with the same statuses", 0, 0)

	// Another controller replaces a's status with its own entry: the next
	// translation's pass reads a and writes ours back.
	a := &gwv1.HTTPRoute{}
	if err := api.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, a); err != nil {
		t.Fatal(err)
	}
	a.Status.Parents = []gwv1.RouteParentStatus{{ParentRef: gwv1.ParentReference{Name: "theirs"}, ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "theirs", LastTransitionTime: metav1.Now()}}}}
	if err := api.Client.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	translation()
	pass("a written by someone else", 1, 1)
	if got := reason("a"); got != "Accepted" {
		t.Errorf("a's status not put back: reason %q", got)
	}

	// b's translated status changes: b is written.
	statuses.Routes[1].Status.Parents = parents("Changed")
	translation()
	pass("b's status changed", 1, 1)
	if got := reason("b"); got != "Changed" {
		t.Errorf("b's new status not written: reason %q", got)
	}

	// Equal statuses in a new slice: read, found in line, not written.
	statuses.Routes[0].Status.Parents = parents("Accepted")
	translation()
	pass("a's statuses equal but new", 1, 0)
	translation()
	pass("and again", 0, 0)
}
