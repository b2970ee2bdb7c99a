package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/edgeway/edgeway/controller/ir"
)

// translatedVHost is a virtual host as published: its IR and the Envoy
// message translated from it, which passed validation.
type translatedVHost struct {
	ir   *ir.VirtualHost
	xds  *routev3.VirtualHost
	wire []byte // xds's deterministic wire form, for the content version
}

// vhostReuse holds a node's published virtual hosts by route table and
// name. A change of one route at thousands of virtual hosts leaves all but
// one as they were: Update takes the unchanged ones' translated,
// validated message from here instead of translating and validating it
// again. Both halves are never written after publishing (the IR is the
// publisher's, the message the snapshot cache's), so sharing is safe; a
// map is replaced, never updated.
type vhostReuse map[vhostKey]translatedVHost

type vhostKey struct{ routeTable, name string }

// virtualHost is the Envoy form of vh, reused from the previous
// publication when its IR is equal; fresh reports a new translation,
// which still needs validating.
func (t *translator) virtualHost(routeTable string, vh *ir.VirtualHost) (v *routev3.VirtualHost, fresh bool) {
	key := vhostKey{routeTable, vh.Name}
	if prev, ok := t.prevVHosts[key]; ok && ir.VirtualHostEqual(prev.ir, vh) {
		t.nextVHosts[key] = prev
		if prev.wire != nil {
			t.wires[prev.xds] = prev.wire
		}
		return prev.xds, false
	}
	v = &routev3.VirtualHost{Name: vh.Name, Domains: append([]string(nil), vh.Domains...)}
	for _, r := range vh.Routes {
		v.Routes = append(v.Routes, t.route(r))
	}
	t.nextVHosts[key] = translatedVHost{ir: vh, xds: v}
	return v, true
}

// validateRouteConfiguration runs the generated checks on rc, skipping
// the virtual hosts reused from the previous publication (they passed
// then, and the checks are per message, not across virtual hosts). On a
// failure the whole configuration is checked again, so the error reads
// as it would without reuse.
func (t *translator) validateRouteConfiguration(rc *routev3.RouteConfiguration) error {
	all := rc.VirtualHosts
	var fresh []*routev3.VirtualHost
	for _, v := range all {
		if t.freshVHosts[v] {
			fresh = append(fresh, v)
		}
	}
	if len(fresh) == len(all) {
		return rc.ValidateAll()
	}
	// rc is this translation's own until it is published.
	rc.VirtualHosts = fresh
	err := rc.ValidateAll()
	rc.VirtualHosts = all
	if err != nil {
		return rc.ValidateAll()
	}
	return nil
}

// withWires is vhosts with the wire forms contentVersion recorded for the
// new virtual hosts (the reused ones have theirs).
func withWires(vhosts vhostReuse, wires vhostWires) vhostReuse {
	for k, e := range vhosts {
		if e.wire == nil {
			e.wire = wires[e.xds]
			vhosts[k] = e
		}
	}
	return vhosts
}
