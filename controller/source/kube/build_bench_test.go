package kube

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/source/kube/kubebench"
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
	c, _ := kubebench.FastClient(b, api)
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
	kubebench.CreateRoutes(b, c, ns, n)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := NewManager(api.Config, ManagerOptions{ControllerName: controller, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	s := newBenchSource(b, ctx, mgr, controller, log)
	kubebench.StartManager(b, ctx, mgr)

	changed := kubebench.Route(ns, n/2, "/")
	if err := c.Get(ctx, client.ObjectKeyFromObject(changed), changed); err != nil {
		b.Fatal(err)
	}
	b.Run("step=build/routes="+strconv.Itoa(n), func(b *testing.B) {
		// The first build copies every object: not a change of one.
		benchBuildOnce(b, s, n)
		b.ReportAllocs()
		var cpu time.Duration
		i := 0
		for b.Loop() {
			b.StopTimer()
			changed.Spec.Rules[0].Matches[0].Path.Value = ptr.To("/changed-" + strconv.Itoa(i%2))
			if err := c.Update(ctx, changed); err != nil {
				b.Fatal(err)
			}
			kubebench.WaitForCached(b, mgr, changed)
			i++
			b.StartTimer()
			start := kubebench.ProcessCPUTime()
			benchBuildOnce(b, s, n)
			cpu += kubebench.ProcessCPUTime() - start
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

// benchBuildOnce builds and checks the Snapshot's size.
func benchBuildOnce(b *testing.B, s *Source, n int) *snapshot.Snapshot {
	snap, err := s.build()
	if err != nil {
		b.Fatal(err)
	}
	if len(snap.HTTPRoutes) != n || len(snap.Services) != 1 {
		b.Fatalf("built %d HTTPRoutes and %d Services, want %d and 1", len(snap.HTTPRoutes), len(snap.Services), n)
	}
	return snap
}
