package gatewayapi

import (
	"slices"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// The Translator's record of each HTTPRoute, kept in the Snapshot's order
// instead of in maps by UID: the next translation walks its sorted routes
// beside the previous translation's, so finding a route's previous
// attachment and compilation is a pointer comparison (the Kubernetes
// source hands out the same object for an unchanged route) or, for a
// changed one, a key comparison, never a map lookup; at thousands of
// routes the maps' lookups and inserts were most of a translation.

// httpRouteMemo is one HTTPRoute of a translation through the memo.
type httpRouteMemo struct {
	obj      *gwv1.HTTPRoute
	attached *attachedHTTPRoute // nil when a listener was not in the world
	compiled *compiledHTTPRoute // nil when not attached anywhere
}

// beginRouteMemo starts a translation's walk of the previous routes and
// tells whether backend resolutions may skip their replay (depsSame).
func (t *translator) beginRouteMemo() {
	m := t.memo
	t.prevRoutes = m.routes
	clear(m.spare) // the translation before the last one: nothing to keep alive
	m.routes, m.spare = m.spare[:0], m.routes
	t.routesUnique = routesInOrder(t.snap.HTTPRoutes)
	t.depsSame = m.prev != nil && t.routesUnique && dependenciesSame(m.prev, t.snap)
	prev := *t.snap
	m.prev = &prev
}

// previousRoute is the previous translation's record of r (the same
// object, or the same UID under the same namespace and name), or nil.
// The routes come sorted (routesInOrder); when they do not, the walk may
// miss a route, which is then translated afresh.
func (t *translator) previousRoute(r *gwv1.HTTPRoute) *httpRouteMemo {
	for t.prevNext < len(t.prevRoutes) {
		p := &t.prevRoutes[t.prevNext]
		if p.obj == r {
			t.prevNext++
			return p
		}
		c := compareRouteKeys(p.obj, r)
		if c > 0 {
			return nil // r is new
		}
		t.prevNext++
		if c == 0 {
			if p.obj.UID == r.UID {
				return p
			}
			return nil // recreated under the same name
		}
	}
	return nil
}

// compareRouteKeys is Snapshot.Sort's order of HTTPRoutes. Equal
// namespaces are told by ==, which finds the same string at once.
func compareRouteKeys(a, b *gwv1.HTTPRoute) int {
	if a.Namespace != b.Namespace {
		return strings.Compare(a.Namespace, b.Namespace)
	}
	return strings.Compare(a.Name, b.Name)
}

// routesInOrder: sorted by namespace and name, each once (as the API
// server and Snapshot.Sort make them). A route's backend resolutions read
// the Gateways its own parentRefs name (mesh.go's routeGateways, by
// namespace and name), so two routes of one name could change each
// other's results without either changing.
func routesInOrder(routes []*gwv1.HTTPRoute) bool {
	var last *gwv1.HTTPRoute
	for _, r := range routes {
		if r == nil {
			continue
		}
		if last != nil && compareRouteKeys(last, r) >= 0 {
			return false
		}
		last = r
	}
	return true
}

// dependenciesSame: every object a backend resolution can read (all of
// b's objects but the HTTPRoutes, whose own spec a compilation's
// generation covers) is a's, the same pointers in the same order, so a
// resolution made in a gives the same cluster name and problem in b. The
// Source hands out the same copy of an unchanged object and nothing
// writes a Snapshot's objects, so the same pointer is the same content.
// EndpointSlices are left out: they fill a cluster's endpoints, which
// each translation makes afresh (ensureClusters), and never change a
// resolution's result; they are also what changes most often.
func dependenciesSame(a, b *snapshot.Snapshot) bool {
	return a.ControllerName == b.ControllerName && a.IsolateGateways == b.IsolateGateways &&
		slices.Equal(a.ReservedPorts, b.ReservedPorts) &&
		slices.Equal(a.BindFailures, b.BindFailures) &&
		slices.Equal(a.GatewayClasses, b.GatewayClasses) &&
		slices.Equal(a.Gateways, b.Gateways) &&
		slices.Equal(a.GRPCRoutes, b.GRPCRoutes) &&
		slices.Equal(a.TLSRoutes, b.TLSRoutes) &&
		slices.Equal(a.TCPRoutes, b.TCPRoutes) &&
		slices.Equal(a.UDPRoutes, b.UDPRoutes) &&
		slices.Equal(a.ReferenceGrants, b.ReferenceGrants) &&
		slices.Equal(a.BackendTLSPolicies, b.BackendTLSPolicies) &&
		slices.Equal(a.ListenerSets, b.ListenerSets) &&
		slices.Equal(a.Services, b.Services) &&
		slices.Equal(a.Secrets, b.Secrets) &&
		slices.Equal(a.ConfigMaps, b.ConfigMaps) &&
		slices.Equal(a.Namespaces, b.Namespaces) &&
		slices.Equal(a.ServiceEntries, b.ServiceEntries) &&
		slices.Equal(a.EdgewayConfigs, b.EdgewayConfigs) &&
		slices.Equal(a.ACMEIssuers, b.ACMEIssuers)
}
