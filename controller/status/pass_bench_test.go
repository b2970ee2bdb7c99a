package status

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/source/kube"
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
	cfg := rest.CopyConfig(api.Config)
	cfg.QPS, cfg.Burst = 1000, 2000 // 5000 routes and their statuses at client-go's default 5/s would take half an hour
	c, err := client.New(cfg, client.Options{Scheme: api.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	parallel(b, n, func(i int) error { return c.Create(ctx, benchStatusRoute(ns, i, "/")) })

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{ControllerName: controller, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	// The informer the Writer reads routes through, synced before the
	// first pass.
	if _, err := mgr.GetCache().GetInformer(mctx, &gwv1.HTTPRoute{}); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(mctx) {
		b.Fatal("the cache did not sync")
	}

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
	waitForCachedRoute(b, mgr, snap.HTTPRoutes[n-1])
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
			waitForCachedRoute(b, mgr, changed)
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
			start := passCPUTime()
			writes := w.Writes()
			if err := w.pass(ctx, in); err != nil { // the translation's
				b.Fatal(err)
			}
			if err := w.pass(ctx, in); err != nil { // an ACK's
				b.Fatal(err)
			}
			cpu += passCPUTime() - start
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

func benchStatusRoute(ns string, i int, path string) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("route-%05d", i)},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("r%d.example.com", i))},
			Rules: []gwv1.HTTPRouteRule{{
				Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To(path)}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "backend", Port: ptr.To(gwv1.PortNumber(80))}}}},
			}},
		},
	}
}

// parallel runs fn for 0..n-1 on 16 goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// waitForCachedRoute waits until the cache holds obj's resourceVersion.
func waitForCachedRoute(b *testing.B, mgr manager.Manager, obj *gwv1.HTTPRoute) {
	deadline := time.Now().Add(30 * time.Second)
	for got := (&gwv1.HTTPRoute{}); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(obj), got); err == nil && got.ResourceVersion == obj.ResourceVersion {
			return
		}
	}
	b.Fatalf("the cache did not get HTTPRoute %s at resourceVersion %s within 30s", obj.Name, obj.ResourceVersion)
}

func passCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
