package status

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/source/kube"
	"github.com/edgeway/edgeway/controller/source/kube/kubebench"
)

// BenchmarkPassAfterOneRouteChange measures the status writer's work for
// one change among 5000 HTTPRoutes in a real kube-apiserver, as
// bench-scale's propagation samples make it: outside the timer, one
// route's spec is updated through the API server, the cache waited for,
// and the next Input made as the source and the Translator would (the
// Snapshot holds the route's new object, the statuses the changed route's
// new parent entries and every other route's same slice); then the pass
// for the new translation and the pass an ACK triggers (the same Input
// again) are timed. The Writer reads through the manager's informer cache
// as in the controller. cpu-ns/op is the process's CPU during the passes
// (GC included; the API server is another process), allocs/op and B/op
// the passes' (and the idle informers').
//
//	go test -run '^$' -bench PassAfterOneRouteChange -benchtime 20x ./controller/status
func BenchmarkPassAfterOneRouteChange(b *testing.B) {
	const n, ns, controller = 5000, "bench", "edgeway.dev/bench-status"
	api := apiserver.Start(b)
	c, cfg := kubebench.FastClient(b, api) // the manager writes 5000 statuses in the first pass
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	kubebench.CreateRoutes(b, c, ns, n)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{ControllerName: controller, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	// The informer the Writer reads routes through, synced before the
	// first pass.
	if _, err := mgr.GetCache().GetInformer(ctx, &gwv1.HTTPRoute{}); err != nil {
		b.Fatal(err)
	}
	kubebench.StartManager(b, ctx, mgr)

	list := &gwv1.HTTPRouteList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	snap := &snapshot.Snapshot{ControllerName: controller}
	statuses := &gatewayapi.Statuses{}
	for i := range list.Items {
		r := &list.Items[i]
		snap.HTTPRoutes = append(snap.HTTPRoutes, r)
		statuses.Routes = append(statuses.Routes, gatewayapi.RouteStatus{Kind: "HTTPRoute", Namespace: ns, Name: r.Name,
			Status: gwv1.RouteStatus{Parents: benchParents(controller, r.Generation)}})
	}
	w := NewWriter(Options{ControllerName: controller, Client: mgr.GetClient(), APIReader: c, Log: log})
	// The first pass writes every route's status: not a change of one.
	// The next translation's Snapshot holds the routes as written, and its
	// pass finds them in line.
	if err := w.pass(ctx, &Input{Snapshot: snap, Statuses: statuses}); err != nil {
		b.Fatal(err)
	}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	snap = &snapshot.Snapshot{ControllerName: controller}
	for i := range list.Items {
		snap.HTTPRoutes = append(snap.HTTPRoutes, &list.Items[i])
	}
	kubebench.WaitForCached(b, mgr, snap.HTTPRoutes[n-1])
	if err := w.pass(ctx, &Input{Snapshot: snap, Statuses: statuses}); err != nil {
		b.Fatal(err)
	}

	at := n / 2
	b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
		b.ReportAllocs()
		var cpu time.Duration
		i := 0
		for b.Loop() {
			b.StopTimer()
			changed := &gwv1.HTTPRoute{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: snap.HTTPRoutes[at].Name}, changed); err != nil {
				b.Fatal(err)
			}
			changed.Spec.Rules[0].Matches[0].Path.Value = ptr.To("/changed-" + strconv.Itoa(i%2))
			if err := c.Update(ctx, changed); err != nil {
				b.Fatal(err)
			}
			kubebench.WaitForCached(b, mgr, changed)
			i++
			// The next translation: the changed route's new object and
			// parent entries, every other route's as before.
			next := &snapshot.Snapshot{ControllerName: controller, HTTPRoutes: append([]*gwv1.HTTPRoute(nil), snap.HTTPRoutes...)}
			next.HTTPRoutes[at] = changed
			nextStatuses := &gatewayapi.Statuses{Routes: append([]gatewayapi.RouteStatus(nil), statuses.Routes...)}
			nextStatuses.Routes[at].Status.Parents = benchParents(controller, changed.Generation)
			snap, statuses = next, nextStatuses
			in := &Input{Snapshot: snap, Statuses: statuses}
			b.StartTimer()
			start := kubebench.ProcessCPUTime()
			writes := w.Writes()
			if err := w.pass(ctx, in); err != nil { // the translation's
				b.Fatal(err)
			}
			if err := w.pass(ctx, in); err != nil { // an ACK's
				b.Fatal(err)
			}
			cpu += kubebench.ProcessCPUTime() - start
			if got := w.Writes() - writes; got != 1 {
				b.Fatalf("%d statuses written for a change of one route, want 1", got)
			}
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

func benchParents(controller string, generation int64) []gwv1.RouteParentStatus {
	ref := gwv1.ParentReference{Group: ptr.To(gwv1.Group(gwv1.GroupName)), Kind: ptr.To(gwv1.Kind("Gateway")), Name: "web"}
	return []gwv1.RouteParentStatus{{ParentRef: ref, ControllerName: gwv1.GatewayController(controller), Conditions: []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "Accepted", ObservedGeneration: generation},
		{Type: "ResolvedRefs", Status: metav1.ConditionTrue, Reason: "ResolvedRefs", Message: "ResolvedRefs", ObservedGeneration: generation},
	}}}
}
