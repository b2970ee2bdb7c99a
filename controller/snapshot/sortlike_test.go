package snapshot

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestSortLikeIsSort: SortLike gives Sort's order for a listing (shuffled,
// as a cache lists) of the previous sorted list's objects with some gone,
// some replaced by new objects of the same name (a changed object's new
// copy), and some new names added, and with equal names (added twice, or
// already twice in prev), which Sort keeps in the listed order; also when
// prev was not sorted, from a prev with nothing in common, and with one
// object listed twice.
func TestSortLikeIsSort(t *testing.T) {
	newRoute := func(ns, name string, version int) *gwv1.HTTPRoute {
		r := &gwv1.HTTPRoute{}
		r.Namespace, r.Name, r.ResourceVersion = ns, name, strconv.Itoa(version)
		return r
	}
	version := 0
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 11))
		n := 1 + rng.IntN(400)
		dups := seed%5 == 0
		var prev []*gwv1.HTTPRoute
		for i := range n {
			name := i
			if dups {
				name = rng.IntN(n/2 + 1)
			}
			version++
			prev = append(prev, newRoute("ns-"+strconv.Itoa(name%3), "r-"+strconv.Itoa(name), version))
		}
		if seed%7 != 3 {
			(&Snapshot{HTTPRoutes: prev}).Sort()
		}
		var listed []*gwv1.HTTPRoute
		for _, r := range prev {
			switch rng.IntN(40) {
			case 0: // gone
			case 1, 2: // changed: a new copy
				version++
				listed = append(listed, newRoute(r.Namespace, r.Name, version))
			default:
				listed = append(listed, r)
			}
		}
		for range rng.IntN(5) {
			version++
			name := "new-" + strconv.Itoa(rng.IntN(1000))
			if rng.IntN(3) == 0 && len(prev) > 0 { // a name prev has
				name = prev[rng.IntN(len(prev))].Name
			}
			listed = append(listed, newRoute("ns-"+strconv.Itoa(rng.IntN(3)), name, version))
		}
		if seed%11 == 5 { // nothing in common
			for i, r := range listed {
				version++
				listed[i] = newRoute(r.Namespace, r.Name, version)
			}
		}
		if seed%13 == 7 && len(listed) > 0 { // one object listed twice
			listed = append(listed, listed[rng.IntN(len(listed))])
		}
		rng.Shuffle(len(listed), func(i, j int) { listed[i], listed[j] = listed[j], listed[i] })
		want := &Snapshot{HTTPRoutes: slices.Clone(listed)}
		want.Sort()
		got := &Snapshot{HTTPRoutes: listed}
		got.SortLike(&Snapshot{HTTPRoutes: prev})
		if !slices.Equal(got.HTTPRoutes, want.HTTPRoutes) {
			t.Fatalf("seed %d (%d routes, duplicates %v): SortLike's order differs from Sort's", seed, len(listed), dups)
		}
	}
}

// TestSortLikeSortsEveryList: every list of a Snapshot, listed in reverse
// order from a prev holding the same objects sorted, comes out sorted.
func TestSortLikeSortsEveryList(t *testing.T) {
	var s, prev Snapshot
	sv, pv := reflect.ValueOf(&s).Elem(), reflect.ValueOf(&prev).Elem()
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if f.Type.Kind() != reflect.Slice {
			continue
		}
		const n = 2 * sortLikeMin
		list := reflect.MakeSlice(f.Type, n, n)
		sorted := reflect.MakeSlice(f.Type, n, n)
		for j := range n {
			o := reflect.New(f.Type.Elem().Elem())
			o.Interface().(metav1.Object).SetName(strconv.Itoa(1000 + j))
			sorted.Index(j).Set(o)
			list.Index(n - 1 - j).Set(o)
		}
		sv.Field(i).Set(list)
		pv.Field(i).Set(sorted)
	}
	s.SortLike(&prev)
	for i := range sv.NumField() {
		if f := sv.Type().Field(i); f.Type.Kind() == reflect.Slice {
			for j := range sv.Field(i).Len() {
				if sv.Field(i).Index(j).Interface() != pv.Field(i).Index(j).Interface() {
					t.Fatalf("Snapshot.%s is not sorted after SortLike", f.Name)
				}
			}
		}
	}
}
