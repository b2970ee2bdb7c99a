package snapshot

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sorter sorts Snapshot after Snapshot as Sort does, in time linear in a
// list's length (and without comparing most of its objects) when the
// previous Snapshot it sorted holds most of the list's objects as the same
// pointers, as the Kubernetes source's builds do for unchanged objects: a
// list is the previous one's, less the objects that are gone, with the new
// ones (sorted) inserted where a binary search puts them, instead of a sort
// of thousands of objects listed in map order after every change of one.
// The order is exactly Sort's: it is the one order when the namespaces and
// names are strictly increasing, which the Sorter knows of each list it
// sorted and checks around each inserted object; with two objects of one
// name (which Sort keeps in their listed order) it sorts as Sort does. The
// Sorter keeps the lists it sorted last: neither they nor their objects
// may be written afterwards (nothing writes a Snapshot's), and each
// Snapshot it sorts must have lists of its own. Its zero value is ready;
// it is not safe for concurrent use.
type Sorter struct {
	last Snapshot
	// strict tells, per list in Sort's order of the lists, whether last's
	// is strictly increasing.
	strict [lists]bool
}

// lists is the number of lists in a Snapshot.
const lists = 18

// Sort sorts snap's lists in place and remembers them for the next.
func (s *Sorter) Sort(snap *Snapshot) {
	p, st := &s.last, &s.strict
	st[0] = sortLike(snap.GatewayClasses, p.GatewayClasses, st[0])
	st[1] = sortLike(snap.Gateways, p.Gateways, st[1])
	st[2] = sortLike(snap.HTTPRoutes, p.HTTPRoutes, st[2])
	st[3] = sortLike(snap.GRPCRoutes, p.GRPCRoutes, st[3])
	st[4] = sortLike(snap.TLSRoutes, p.TLSRoutes, st[4])
	st[5] = sortLike(snap.TCPRoutes, p.TCPRoutes, st[5])
	st[6] = sortLike(snap.UDPRoutes, p.UDPRoutes, st[6])
	st[7] = sortLike(snap.ReferenceGrants, p.ReferenceGrants, st[7])
	st[8] = sortLike(snap.BackendTLSPolicies, p.BackendTLSPolicies, st[8])
	st[9] = sortLike(snap.ListenerSets, p.ListenerSets, st[9])
	st[10] = sortLike(snap.Services, p.Services, st[10])
	st[11] = sortLike(snap.EndpointSlices, p.EndpointSlices, st[11])
	st[12] = sortLike(snap.Secrets, p.Secrets, st[12])
	st[13] = sortLike(snap.ConfigMaps, p.ConfigMaps, st[13])
	st[14] = sortLike(snap.Namespaces, p.Namespaces, st[14])
	st[15] = sortLike(snap.ServiceEntries, p.ServiceEntries, st[15])
	st[16] = sortLike(snap.EdgewayConfigs, p.EdgewayConfigs, st[16])
	st[17] = sortLike(snap.ACMEIssuers, p.ACMEIssuers, st[17])
	s.last = *snap
}

// sortLikeMin is the length under which a list is sorted, not patched:
// a map of the previous list's objects costs more than a sort of a few.
const sortLikeMin = 64

// sortLike sorts objs in place as sortObjects does, from prev (the list
// last sorted; prevStrict: strictly increasing), and reports whether objs
// is now strictly increasing.
func sortLike[T interface {
	comparable
	metav1.Object
}](objs, prev []T, prevStrict bool) bool {
	if len(objs) < sortLikeMin || len(prev) == 0 || !prevStrict {
		return sortStrict(objs)
	}
	at := make(map[T]int32, len(prev))
	for i, o := range prev {
		at[o] = int32(i)
	}
	kept := make([]bool, len(prev))
	var added []T
	for _, o := range objs {
		if i, ok := at[o]; ok && !kept[i] {
			kept[i] = true
			continue
		}
		added = append(added, o)
	}
	if len(added) > len(objs)/4 || !sortStrict(added) {
		return sortStrict(objs) // mostly new, or names taken twice
	}
	out := make([]T, 0, len(objs))
	from := 0 // prev[from:] are not yet in out
	for _, a := range added {
		// The first of prev after a: prev is strictly increasing.
		lo, hi := from, len(prev)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if compareObjects(prev[mid], a) <= 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		for ; from < lo; from++ {
			if kept[from] {
				out = append(out, prev[from])
			}
		}
		if n := len(out); n > 0 && compareObjects(out[n-1], a) >= 0 {
			return sortStrict(objs) // a's name is a kept object's
		}
		out = append(out, a)
	}
	for ; from < len(prev); from++ {
		if kept[from] {
			out = append(out, prev[from])
		}
	}
	copy(objs, out)
	return true
}

// sortStrict is sortObjects, reporting whether no two objects have the
// same namespace and name.
func sortStrict[T metav1.Object](objs []T) bool {
	sortObjects(objs)
	for i := 1; i < len(objs); i++ {
		if compareObjects(objs[i-1], objs[i]) >= 0 {
			return false
		}
	}
	return true
}

// compareObjects is Sort's order: by namespace, then name. Equal
// namespaces (the usual neighbours) are told by ==, which finds the same
// string at once.
func compareObjects[T metav1.Object](a, b T) int {
	if an, bn := a.GetNamespace(), b.GetNamespace(); an != bn {
		return strings.Compare(an, bn)
	}
	return strings.Compare(a.GetName(), b.GetName())
}
