package config

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// vhostCache keeps the compiled virtual hosts of the last compile by the
// wire form of their xDS message: the bytes it was received as
// (Resources.RouteWire), or else its deterministic marshalling. Equal bytes
// are an equal message either way. A route configuration is one resource, so
// a change of one route resends all of its virtual hosts; with the cache
// only the changed ones are checked and compiled again (at 5000 virtual
// hosts, the field checks and compile of the unchanged ones were most of
// the data plane's work per update).
//
// A compiled virtual host is immutable once its configuration is served,
// except that link writes the cluster pointers of its forward actions.
// So the one compiled here is linked by the compile that made it (before
// it is served), and every later use gets a copy (get) that its own
// compile links.
//
// A nil *vhostCache caches nothing. Not safe for concurrent use.
type vhostCache struct {
	prev map[string]*VirtualHost // of the last compile whose routes all compiled
	next map[string]*VirtualHost // of the compile in progress
}

// key is the deterministic wire form of pvh; "" (never cached) when there
// is no cache or pvh does not marshal.
func (c *vhostCache) key(pvh *routev3.VirtualHost) string {
	if c == nil {
		return ""
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(pvh)
	if err != nil {
		return ""
	}
	return string(b)
}

// wireKey is the key of a virtual host received as wire; "" when there is
// no cache.
func (c *vhostCache) wireKey(wire string) string {
	if c == nil {
		return ""
	}
	return wire
}

// has reports whether key was compiled by the last or this compile.
func (c *vhostCache) has(key string) bool {
	if c == nil || key == "" {
		return false
	}
	if _, ok := c.next[key]; ok {
		return true
	}
	_, ok := c.prev[key]
	return ok
}

// get returns a copy of the virtual host compiled from key, ready to be
// linked, or nil.
func (c *vhostCache) get(key string) *VirtualHost {
	if c == nil || key == "" {
		return nil
	}
	vh, ok := c.next[key]
	if !ok {
		if vh, ok = c.prev[key]; !ok {
			return nil
		}
		c.next[key] = vh
	}
	return vh.linkableCopy()
}

// put records vh, just compiled from key.
func (c *vhostCache) put(key string, vh *VirtualHost) {
	if c == nil || key == "" {
		return
	}
	c.next[key] = vh
}

// begin starts a compile; commit keeps its virtual hosts for the next one
// (those of the last compile that this one did not use are dropped), abort
// forgets them.
func (c *vhostCache) begin()  { c.next = make(map[string]*VirtualHost, len(c.prev)) }
func (c *vhostCache) commit() { c.prev, c.next = c.next, nil }
func (c *vhostCache) abort()  { c.next = nil }

// linkableCopy copies what link writes (the weighted cluster entries of the
// forward actions) and shares the rest, which nothing changes. Every
// unchanged virtual host is copied on every update, so the copies come in
// bulk: five allocations per virtual host whatever its routes, one for a
// virtual host of one forwarding route to one cluster (one HTTPRoute rule
// with one backend: the common case at scale).
func (vh *VirtualHost) linkableCopy() *VirtualHost {
	if len(vh.Routes) == 1 && vh.Routes[0].Forward != nil && len(vh.Routes[0].Forward.Clusters.Entries) == 1 {
		one := &oneForwardCopy{}
		one.route, one.forward, one.entry[0] = *vh.Routes[0], *vh.Routes[0].Forward, vh.Routes[0].Forward.Clusters.Entries[0]
		one.forward.Clusters.Entries = one.entry[:]
		one.route.Forward = &one.forward
		one.routes[0] = &one.route
		one.vh = VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: one.routes[:]}
		return &one.vh
	}
	forwards, entries := 0, 0
	for _, r := range vh.Routes {
		if r.Forward != nil {
			forwards++
			entries += len(r.Forward.Clusters.Entries)
		}
	}
	routes := make([]Route, len(vh.Routes))
	fwds := make([]Forward, forwards)
	ents := make([]WeightedCluster, 0, entries)
	cp := &VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: make([]*Route, len(vh.Routes))}
	for i, r := range vh.Routes {
		routes[i] = *r
		if r.Forward != nil {
			f := &fwds[0]
			fwds = fwds[1:]
			*f = *r.Forward
			n := len(ents)
			ents = append(ents, r.Forward.Clusters.Entries...)
			f.Clusters.Entries = ents[n:len(ents):len(ents)]
			routes[i].Forward = f
		}
		cp.Routes[i] = &routes[i]
	}
	return cp
}

// oneForwardCopy is linkableCopy's copy of a virtual host of one route that
// forwards to one cluster, in one allocation.
type oneForwardCopy struct {
	vh      VirtualHost
	routes  [1]*Route
	route   Route
	forward Forward
	entry   [1]WeightedCluster
}
