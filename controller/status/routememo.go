package status

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// routeKey names a route of one kind.
type routeKey struct{ kind, namespace, name string }

// routeInLine is what a pass left a route at: the translation's parent
// statuses it brought the live route in line with (by identity: the first
// element and the length of the Translator's slice, which it hands out
// again while nothing about the route changed) and the route's
// resourceVersion after that.
type routeInLine struct {
	first *gwv1.RouteParentStatus
	n     int
	rv    string
}

// snapshotRouteVersions indexes the resourceVersion of every route of the
// Snapshot by kind, namespace and name. Translation saw the routes at these
// versions, so a route the last pass left in line whose version is still
// the same was written by nobody since, as of the translation: a pass at
// thousands of routes otherwise listed every route from the cache for it
// (the list's reflection copied each into the list), after every
// translation. A write made after the Snapshot was built is seen by the
// next translation's Snapshot, which every change makes (status-only
// updates are not translated, but neither did they trigger a pass before).
// into is cleared and refilled (its buckets kept from pass to pass).
func snapshotRouteVersions(s *snapshot.Snapshot, into map[routeKey]string) {
	clear(into)
	for _, r := range s.HTTPRoutes {
		into[routeKey{"HTTPRoute", r.Namespace, r.Name}] = r.ResourceVersion
	}
	for _, r := range s.GRPCRoutes {
		into[routeKey{"GRPCRoute", r.Namespace, r.Name}] = r.ResourceVersion
	}
	for _, r := range s.TLSRoutes {
		into[routeKey{"TLSRoute", r.Namespace, r.Name}] = r.ResourceVersion
	}
	for _, r := range s.TCPRoutes {
		into[routeKey{"TCPRoute", r.Namespace, r.Name}] = r.ResourceVersion
	}
	for _, r := range s.UDPRoutes {
		into[routeKey{"UDPRoute", r.Namespace, r.Name}] = r.ResourceVersion
	}
}

// inLine reports whether the route is as the last pass left it, in line
// with the same translated statuses: then there is nothing to read or
// write. The route's resourceVersion in the translated Snapshot tells
// whether anyone (this writer included) wrote it since.
func (m routeInLine) inLine(desired []gwv1.RouteParentStatus, rv string) bool {
	return m.first != nil && len(desired) == m.n && len(desired) > 0 && &desired[0] == m.first && rv != "" && rv == m.rv
}

func remember(desired []gwv1.RouteParentStatus, rv string) (routeInLine, bool) {
	if len(desired) == 0 || rv == "" {
		return routeInLine{}, false
	}
	return routeInLine{first: &desired[0], n: len(desired), rv: rv}, true
}
