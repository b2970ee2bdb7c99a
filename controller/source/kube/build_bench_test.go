package kube

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
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// BenchmarkSourceBuild measures the Source's build (the listing of the
// informer cache into a Snapshot) at 5000 HTTPRoutes in a real
// kube-apiserver, for a change of one route per op, as bench-scale's
// propagation samples make: outside the timer, one route's path is updated
// through the API server and the cache waited for; then one build is
// timed. cpu-ns/op is the process's CPU during the builds only (GC
// included), allocs/op and B/op the builds' (and whatever the idle
// informers allocate meanwhile). The Source is not run by the manager (its
// translation would run on every change); it only watches.
//
//	go test -run '^$' -bench SourceBuild -benchtime 40x ./controller/source/kube
func BenchmarkSourceBuild(b *testing.B) {
	const n, ns, controller = 5000, "bench", "edgeway.dev/bench-build"
	api := apiserver.Start(b)
	cfg := rest.CopyConfig(api.Config)
	cfg.QPS, cfg.Burst = 1000, 2000 // setting up 5000 routes at client-go's default 5/s would take 17 minutes
	c, err := client.New(cfg, client.Options{Scheme: api.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}},
		&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: gwv1.GatewaySpec{GatewayClassName: "bench",
			Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	routes := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	var createErr error
	for range 16 {
		wg.Go(func() {
			for i := range routes {
				if err := c.Create(ctx, benchRoute(ns, i, "/")); err != nil {
					failed.Do(func() { createErr = err })
				}
			}
		})
	}
	for i := range n {
		routes <- i
	}
	close(routes)
	wg.Wait()
	if createErr != nil {
		b.Fatal(createErr)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := NewManager(api.Config, ManagerOptions{ControllerName: controller, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	s := newBenchSource(b, mctx, mgr, controller, log)
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

	changed := benchRoute(ns, n/2, "/")
	if err := c.Get(ctx, client.ObjectKeyFromObject(changed), changed); err != nil {
		b.Fatal(err)
	}
	b.Run("step=build/routes="+strconv.Itoa(n), func(b *testing.B) {
		// The first build copies every object: not a change of one.
		benchBuildOnce(b, s, mctx, n)
		b.ReportAllocs()
		var cpu time.Duration
		i := 0
		for b.Loop() {
			b.StopTimer()
			changed.Spec.Rules[0].Matches[0].Path.Value = ptr.To("/changed-" + strconv.Itoa(i%2))
			if err := c.Update(ctx, changed); err != nil {
				b.Fatal(err)
			}
			waitForCached(b, mgr, changed)
			i++
			b.StartTimer()
			start := processCPUTime()
			benchBuildOnce(b, s, mctx, n)
			cpu += processCPUTime() - start
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// newBenchSource is a Source that watches (its informers are mgr's) but is
// not one of mgr's runnables: only the benchmark builds.
func newBenchSource(b *testing.B, ctx context.Context, mgr manager.Manager, controller string, log *slog.Logger) *Source {
	s := &Source{
		opts:      Options{ControllerName: controller},
		mgr:       mgr,
		log:       log,
		kinds:     kinds{stores: map[string]toolscache.Indexer{}},
		dirty:     make(chan struct{}, 1),
		refs:      newReferences(),
		published: map[string]publishedIR{},
	}
	if _, err := s.watch(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchBuildOnce builds and checks the Snapshot's size. Its context is
// unused since builds read the informers' stores (before, a build took one).
func benchBuildOnce(b *testing.B, s *Source, _ context.Context, n int) *snapshot.Snapshot {
	snap, err := s.build()
	if err != nil {
		b.Fatal(err)
	}
	if len(snap.HTTPRoutes) != n || len(snap.Services) != 1 {
		b.Fatalf("built %d HTTPRoutes and %d Services, want %d and 1", len(snap.HTTPRoutes), len(snap.Services), n)
	}
	return snap
}

// waitForCached waits until the cache holds obj's resourceVersion.
func waitForCached(b *testing.B, mgr manager.Manager, obj *gwv1.HTTPRoute) {
	deadline := time.Now().Add(30 * time.Second)
	for got := (&gwv1.HTTPRoute{}); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(obj), got); err == nil && got.ResourceVersion == obj.ResourceVersion {
			return
		}
	}
	b.Fatalf("the cache did not get HTTPRoute %s at resourceVersion %s within 30s", obj.Name, obj.ResourceVersion)
}

func benchRoute(ns string, i int, path string) *gwv1.HTTPRoute {
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

func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
