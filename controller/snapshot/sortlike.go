package snapshot

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SortLike sorts every list as Sort does, in time linear in its length
// when prev (a sorted Snapshot, the previous build's) holds most of its
// objects as the same pointers, as the Kubernetes source's builds do for
// unchanged objects: a list is prev's, less the objects that are gone,
// with the new ones (sorted) merged in, instead of a sort of thousands of
// objects after every change of one. The order is exactly Sort's: a
// patched list whose namespaces and names are not strictly increasing
// (two objects of one name, which Sort keeps in their listed order, or a
// prev that was not sorted) is sorted by Sort's own function instead.
// prev's objects must not have been written since it was sorted (none of
// a Snapshot's are). With prev nil it is Sort.
func (s *Snapshot) SortLike(prev *Snapshot) {
	if prev == nil {
		s.Sort()
		return
	}
	sortLike(s.GatewayClasses, prev.GatewayClasses)
	sortLike(s.Gateways, prev.Gateways)
	sortLike(s.HTTPRoutes, prev.HTTPRoutes)
	sortLike(s.GRPCRoutes, prev.GRPCRoutes)
	sortLike(s.TLSRoutes, prev.TLSRoutes)
	sortLike(s.TCPRoutes, prev.TCPRoutes)
	sortLike(s.UDPRoutes, prev.UDPRoutes)
	sortLike(s.ReferenceGrants, prev.ReferenceGrants)
	sortLike(s.BackendTLSPolicies, prev.BackendTLSPolicies)
	sortLike(s.ListenerSets, prev.ListenerSets)
	sortLike(s.Services, prev.Services)
	sortLike(s.EndpointSlices, prev.EndpointSlices)
	sortLike(s.Secrets, prev.Secrets)
	sortLike(s.ConfigMaps, prev.ConfigMaps)
	sortLike(s.Namespaces, prev.Namespaces)
	sortLike(s.ServiceEntries, prev.ServiceEntries)
	sortLike(s.EdgewayConfigs, prev.EdgewayConfigs)
	sortLike(s.ACMEIssuers, prev.ACMEIssuers)
}

// sortLikeMin is the length under which a list is sorted, not patched:
// a map of prev's objects costs more than a sort of a few.
const sortLikeMin = 64

// sortLike sorts objs (in place) as sortObjects does, from prev's order.
func sortLike[T interface {
	comparable
	metav1.Object
}](objs, prev []T) {
	if len(objs) < sortLikeMin || len(prev) == 0 {
		sortObjects(objs)
		return
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
	if len(added) > len(objs)/4 {
		sortObjects(objs) // mostly new: nothing to gain
		return
	}
	sortObjects(added)
	out := make([]T, 0, len(objs))
	j := 0
	for i, o := range prev {
		if !kept[i] {
			continue
		}
		for j < len(added) && compareObjects(added[j], o) < 0 {
			out = append(out, added[j])
			j++
		}
		out = append(out, o)
	}
	out = append(out, added[j:]...)
	for i := 1; i < len(out); i++ {
		if compareObjects(out[i-1], out[i]) >= 0 {
			sortObjects(objs)
			return
		}
	}
	copy(objs, out)
}

// compareObjects is Sort's order: by namespace, then name.
func compareObjects[T metav1.Object](a, b T) int {
	if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
		return c
	}
	return strings.Compare(a.GetName(), b.GetName())
}
