package snapshot

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestSortIsStable: Sort gives the stable order by namespace and name,
// with and without equal namespaces and names (which a file or a
// hand-built Snapshot may hold, and whose order Sort must keep), from
// shuffled and from sorted input.
func TestSortIsStable(t *testing.T) {
	for _, dups := range []bool{false, true} {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, 7))
			routes := make([]*gwv1.HTTPRoute, 300)
			for i := range routes {
				routes[i] = &gwv1.HTTPRoute{}
				n := i
				if dups {
					n = rng.IntN(50)
				}
				routes[i].Namespace, routes[i].Name = "ns-"+strconv.Itoa(n%3), "r-"+strconv.Itoa(n)
				routes[i].ResourceVersion = strconv.Itoa(i) // tells equals apart
			}
			rng.Shuffle(len(routes), func(i, j int) { routes[i], routes[j] = routes[j], routes[i] })
			want := slices.Clone(routes)
			slices.SortStableFunc(want, func(a, b *gwv1.HTTPRoute) int {
				return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
			})
			for round := range 2 { // the second from sorted input
				snap := &Snapshot{HTTPRoutes: routes}
				snap.Sort()
				if !slices.Equal(snap.HTTPRoutes, want) {
					t.Fatalf("duplicates %v, seed %d, round %d: Sort's order differs from a stable sort's", dups, seed, round)
				}
			}
		}
	}
}
