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
	// digest is the SHA-256 of wire (its first half): the content version
	// hashes it, not the wire form, once it is known (version.go).
	digest vhostDigest
	// fresh: translated by this Update, so not yet validated or marshalled.
	fresh bool
}

// vhostReuse holds a node's published virtual hosts by route table name,
// each list in its route configuration's order (element i is the message
// at VirtualHosts[i]). A change of one route at thousands of virtual hosts
// leaves all but one as they were: Update takes the unchanged ones'
// translated, validated message and wire form from here instead of
// translating, validating and marshalling it again. A published list is
// never written (the IR is the publisher's, the message the snapshot
// cache's), so sharing is safe: the next Update builds new lists.
//
// Lists by position rather than a map by name: at 5000 virtual hosts the
// map's hashing and growth were most of Update's cost for a change of one.
type vhostReuse map[string][]translatedVHost

// previousVHosts finds a route table's previously published virtual hosts
// by name. The IR keeps a route table's virtual hosts in a stable order
// (by name), so the one wanted is almost always the one after the last
// found; an index by name is built only on the first miss (a virtual
// host added or removed).
type previousVHosts struct {
	list   []translatedVHost
	next   int
	byName map[string]int
}

func (p *previousVHosts) find(name string) (translatedVHost, bool) {
	if p.next < len(p.list) && p.list[p.next].ir.Name == name {
		p.next++
		return p.list[p.next-1], true
	}
	if len(p.list) == 0 {
		return translatedVHost{}, false
	}
	if p.byName == nil {
		p.byName = make(map[string]int, len(p.list))
		for i, e := range p.list {
			p.byName[e.ir.Name] = i
		}
	}
	i, ok := p.byName[name]
	if !ok {
		return translatedVHost{}, false
	}
	p.next = i + 1
	return p.list[i], true
}

// virtualHost is the Envoy form of vh, reused from the previous
// publication when its IR is equal; a fresh one still needs validating.
func (t *translator) virtualHost(prev *previousVHosts, vh *ir.VirtualHost) translatedVHost {
	if p, ok := prev.find(vh.Name); ok && ir.VirtualHostEqual(p.ir, vh) {
		// vh rather than p.ir: the publisher's newest IR is the one the
		// next change is most likely pointer-identical to.
		return translatedVHost{ir: vh, xds: p.xds, wire: p.wire, digest: p.digest}
	}
	v := &routev3.VirtualHost{Name: vh.Name, Domains: append([]string(nil), vh.Domains...)}
	for _, r := range vh.Routes {
		v.Routes = append(v.Routes, t.route(r))
	}
	return translatedVHost{ir: vh, xds: v, fresh: true}
}

// translatedVHostsOf are the entries of rc's virtual hosts from vhosts,
// or nil when vhosts does not hold rc's (a translation without reuse).
func translatedVHostsOf(vhosts vhostReuse, rc *routev3.RouteConfiguration) []translatedVHost {
	entries := vhosts[rc.Name]
	if len(entries) != len(rc.VirtualHosts) {
		return nil
	}
	for i, v := range rc.VirtualHosts {
		if entries[i].xds != v {
			return nil
		}
	}
	return entries
}

// validateRouteConfiguration runs the generated checks on rc, skipping
// the virtual hosts reused from the previous publication (they passed
// then, and the checks are per message, not across virtual hosts). On a
// failure the whole configuration is checked again, so the error reads
// as it would without reuse.
func (t *translator) validateRouteConfiguration(rc *routev3.RouteConfiguration) error {
	entries := translatedVHostsOf(t.nextVHosts, rc)
	if entries == nil {
		return rc.ValidateAll()
	}
	all := rc.VirtualHosts
	var fresh []*routev3.VirtualHost
	for i, v := range all {
		if entries[i].fresh {
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
