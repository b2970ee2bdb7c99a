package status

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestPassYieldsToTranslation: against a real kube-apiserver, a pass that
// has a status to write holds the write back while Busy reports a
// translation, writes it once Busy turns false, and, when its budget is
// spent, writes although a translation still runs (statuses keep coming
// under a continuous stream of changes).
func TestPassYieldsToTranslation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ctx := context.Background()
	const ns, controller = "yield", "edgeway.dev/test-status-yield"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"}, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}}}},
	} {
		if err := api.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	input := func(reason string) *Input {
		t.Helper()
		route := &gwv1.HTTPRoute{}
		if err := api.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, route); err != nil {
			t.Fatal(err)
		}
		ref := gwv1.ParentReference{Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("Gateway")), Name: "web"}
		parents := []gwv1.RouteParentStatus{{ParentRef: ref, ControllerName: controller,
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: reason, Message: reason}}}}
		return &Input{
			Snapshot: &snapshot.Snapshot{ControllerName: controller, HTTPRoutes: []*gwv1.HTTPRoute{route}},
			Statuses: &gatewayapi.Statuses{Routes: []gatewayapi.RouteStatus{{Kind: "HTTPRoute", Namespace: ns, Name: "a", Status: gwv1.RouteStatus{Parents: parents}}}},
		}
	}
	reason := func() string {
		t.Helper()
		r := &gwv1.HTTPRoute{}
		if err := api.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, r); err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Status.Parents {
			if p.ControllerName == controller && len(p.Conditions) > 0 {
				return p.Conditions[0].Reason
			}
		}
		return ""
	}

	var busy atomic.Bool
	var polls atomic.Int64
	waiting := make(chan struct{})
	w := NewWriter(Options{ControllerName: controller, Client: api.Client, APIReader: api.Client, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Busy: func() bool {
			if polls.Add(1) == 3 { // asked again and again: the pass waits
				close(waiting)
			}
			return busy.Load()
		}})

	// A translation runs: the write waits for it.
	busy.Store(true)
	w.yieldLeft = time.Hour // what Start gives a pass, made long
	done := make(chan error, 1)
	go func() { done <- w.pass(ctx, input("First")) }()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("the pass ended (%v) without waiting for the translation", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the pass did not ask Busy again within 30s")
	}
	if w.Writes() != 0 || reason() != "" {
		t.Fatalf("a status was written while the translation ran (%d writes, reason %q)", w.Writes(), reason())
	}
	busy.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.Writes() != 1 || reason() != "First" {
		t.Fatalf("after the translation: %d writes, reason %q; want 1 and First", w.Writes(), reason())
	}

	// Translations never stop: the budget spent, the status is written.
	busy.Store(true)
	w.yieldLeft = 20 * time.Millisecond
	if err := w.pass(ctx, input("Second")); err != nil {
		t.Fatal(err)
	}
	if w.Writes() != 2 || reason() != "Second" {
		t.Fatalf("with the budget spent: %d writes, reason %q; want 2 and Second", w.Writes(), reason())
	}
}
