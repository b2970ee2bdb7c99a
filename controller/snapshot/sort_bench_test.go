package snapshot

import (
	"math/rand/v2"
	"strconv"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BenchmarkSort sorts 5000 HTTPRoutes in the order a cache lists them (a
// fixed shuffle), as the Kubernetes source does after every change.
func BenchmarkSort(b *testing.B) {
	routes := make([]*gwv1.HTTPRoute, 5000)
	for i := range routes {
		routes[i] = &gwv1.HTTPRoute{}
		routes[i].Namespace, routes[i].Name = "edgeway-bench-scale", "r-"+strconv.Itoa(i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(routes), func(i, j int) { routes[i], routes[j] = routes[j], routes[i] })
	snap := &Snapshot{}
	b.ReportAllocs()
	for b.Loop() {
		snap.HTTPRoutes = append(snap.HTTPRoutes[:0], routes...)
		snap.Sort()
	}
}

// BenchmarkSortLike is BenchmarkSort from the previous build's sorted
// list, one route of which is a new object (a changed route's new copy).
func BenchmarkSortLike(b *testing.B) {
	routes := make([]*gwv1.HTTPRoute, 5000)
	for i := range routes {
		routes[i] = &gwv1.HTTPRoute{}
		routes[i].Namespace, routes[i].Name = "edgeway-bench-scale", "r-"+strconv.Itoa(i)
	}
	prev := &Snapshot{HTTPRoutes: append([]*gwv1.HTTPRoute(nil), routes...)}
	prev.Sort()
	routes[2500] = routes[2500].DeepCopy()
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(routes), func(i, j int) { routes[i], routes[j] = routes[j], routes[i] })
	snap := &Snapshot{}
	b.ReportAllocs()
	for b.Loop() {
		snap.HTTPRoutes = append(snap.HTTPRoutes[:0], routes...)
		snap.SortLike(prev)
	}
}
