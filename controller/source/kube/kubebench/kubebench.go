// Package kubebench holds what the benchmarks against a real
// kube-apiserver share (the Source's build, the status writer's passes):
// a client fast enough to create thousands of routes, the routes
// themselves, a started manager, and the process's CPU time, so that each
// benchmark times the same workload the same way.
package kubebench

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
)

// FastClient is a client of api without client-go's default rate limit,
// and its config (for a manager that writes as much): creating 5000 routes
// at its 5 requests/s would take 17 minutes.
func FastClient(tb testing.TB, api *apiserver.Server) (client.Client, *rest.Config) {
	tb.Helper()
	cfg := rest.CopyConfig(api.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: api.Client.Scheme()})
	if err != nil {
		tb.Fatal(err)
	}
	return c, cfg
}

// Route is the i-th benchmark HTTPRoute of ns: hostname r<i>.example.com,
// one PathPrefix rule to Service backend:80, parent Gateway web (the shape
// bench-scale creates).
func Route(ns string, i int, path string) *gwv1.HTTPRoute {
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

// CreateRoutes creates Route(ns, 0..n-1, "/") with 16 parallel requests.
func CreateRoutes(tb testing.TB, c client.Client, ns string, n int) {
	tb.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := c.Create(context.Background(), Route(ns, i, "/")); err != nil {
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
		tb.Fatal(first)
	}
}

// StartManager starts mgr until the benchmark ends and waits for its cache
// to sync; informers wanted synced must be asked for before.
func StartManager(tb testing.TB, ctx context.Context, mgr manager.Manager) {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		tb.Fatal("the cache did not sync")
	}
}

// WaitForCached waits until mgr's cache holds route at its resourceVersion.
func WaitForCached(tb testing.TB, mgr manager.Manager, route *gwv1.HTTPRoute) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for got := (&gwv1.HTTPRoute{}); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(route), got); err == nil && got.ResourceVersion == route.ResourceVersion {
			return
		}
	}
	tb.Fatalf("the cache did not get HTTPRoute %s at resourceVersion %s within 30s", route.Name, route.ResourceVersion)
}

// ProcessCPUTime is this process's CPU time (user + system, every
// goroutine and the GC): the benchmarks report it per op beside ns/op,
// which on a shared machine grows with other processes' load.
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
