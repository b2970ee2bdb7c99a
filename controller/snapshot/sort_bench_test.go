package snapshot

import (
	"math/rand/v2"
	"slices"
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

// BenchmarkSorter is BenchmarkSort through a Sorter, each op's listing
// the previous one's but for one route, a new object (a changed route's
// new copy), in a new list as a build makes.
func BenchmarkSorter(b *testing.B) {
	routes := make([]*gwv1.HTTPRoute, 5000)
	for i := range routes {
		routes[i] = &gwv1.HTTPRoute{}
		routes[i].Namespace, routes[i].Name = "edgeway-bench-scale", "r-"+strconv.Itoa(i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(routes), func(i, j int) { routes[i], routes[j] = routes[j], routes[i] })
	versions := [2]*gwv1.HTTPRoute{routes[2500], routes[2500].DeepCopy()}
	var sorter Sorter
	sorter.Sort(&Snapshot{HTTPRoutes: slices.Clone(routes)})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		routes[2500] = versions[i%2]
		sorter.Sort(&Snapshot{HTTPRoutes: slices.Clone(routes)})
	}
}
