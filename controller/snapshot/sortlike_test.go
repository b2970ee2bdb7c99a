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

// TestSorterIsSort: a Sorter gives Sort's order for a sequence of
// listings (shuffled, as a cache lists), each of the previous one's objects
// with some gone, some replaced by new objects of the same name (a changed
// object's new copy), and some new names added; with equal names (added
// twice, or already twice before), which Sort keeps in the listed order;
// or two new objects of one name; with nothing in common with the
// previous listing; and with one object listed twice.
func TestSorterIsSort(t *testing.T) {
	newRoute := func(ns, name string, version int) *gwv1.HTTPRoute {
		r := &gwv1.HTTPRoute{}
		r.Namespace, r.Name, r.ResourceVersion = ns, name, strconv.Itoa(version)
		return r
	}
	version := 0
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 11))
		n := 1 + rng.IntN(400)
		dups := seed%5 == 0
		var listed []*gwv1.HTTPRoute
		for i := range n {
			name := i
			if dups {
				name = rng.IntN(n/2 + 1)
			}
			version++
			listed = append(listed, newRoute("ns-"+strconv.Itoa(name%3), "r-"+strconv.Itoa(name), version))
		}
		var sorter Sorter
		for round := range 10 {
			rng.Shuffle(len(listed), func(i, j int) { listed[i], listed[j] = listed[j], listed[i] })
			want := &Snapshot{HTTPRoutes: slices.Clone(listed)}
			want.Sort()
			got := &Snapshot{HTTPRoutes: slices.Clone(listed)}
			sorter.Sort(got)
			if !slices.Equal(got.HTTPRoutes, want.HTTPRoutes) {
				t.Fatalf("seed %d, round %d (%d routes, duplicates %v): the Sorter's order differs from Sort's", seed, round, len(listed), dups)
			}
			var next []*gwv1.HTTPRoute
			for _, r := range listed {
				switch rng.IntN(40) {
				case 0: // gone
				case 1, 2: // changed: a new copy
					version++
					next = append(next, newRoute(r.Namespace, r.Name, version))
				default:
					next = append(next, r)
				}
			}
			for range rng.IntN(5) {
				version++
				name := "new-" + strconv.Itoa(version)
				if rng.IntN(20) == 0 && len(listed) > 0 { // a name listed already
					name = listed[rng.IntN(len(listed))].Name
				}
				ns := "ns-" + strconv.Itoa(rng.IntN(3))
				next = append(next, newRoute(ns, name, version))
				if rng.IntN(10) == 0 { // two new objects of one name
					version++
					next = append(next, newRoute(ns, name, version))
				}
			}
			if rng.IntN(20) == 5 { // nothing in common
				for i, r := range next {
					version++
					next[i] = newRoute(r.Namespace, r.Name, version)
				}
			}
			if rng.IntN(20) == 7 && len(next) > 0 { // one object listed twice
				next = append(next, next[rng.IntN(len(next))])
			}
			listed = next
		}
	}
}

// TestSorterSortsEveryList: every list of a Snapshot, listed in reverse
// order after a Snapshot holding the same objects sorted, comes out
// sorted.
func TestSorterSortsEveryList(t *testing.T) {
	var s, prev Snapshot
	sv, pv := reflect.ValueOf(&s).Elem(), reflect.ValueOf(&prev).Elem()
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() != reflect.Pointer {
			continue // ReservedPorts: configuration, not objects
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
	var sorter Sorter
	sorter.Sort(&prev)
	sorter.Sort(&s)
	for i := range sv.NumField() {
		if f := sv.Type().Field(i); f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Pointer {
			for j := range sv.Field(i).Len() {
				if sv.Field(i).Index(j).Interface() != pv.Field(i).Index(j).Interface() {
					t.Fatalf("Snapshot.%s is not sorted by the Sorter", f.Name)
				}
			}
		}
	}
}
