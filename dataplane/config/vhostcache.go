package config

import (
	"slices"

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
func (c *vhostCache) begin()  { c.next = map[string]*VirtualHost{} }
func (c *vhostCache) commit() { c.prev, c.next = c.next, nil }
func (c *vhostCache) abort()  { c.next = nil }

// linkableCopy copies what link writes (the weighted cluster entries of the
// forward actions) and shares the rest, which nothing changes.
func (vh *VirtualHost) linkableCopy() *VirtualHost {
	cp := &VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: make([]*Route, len(vh.Routes))}
	for i, r := range vh.Routes {
		nr := *r
		if r.Forward != nil {
			f := *r.Forward
			f.Clusters.Entries = slices.Clone(f.Clusters.Entries)
			nr.Forward = &f
		}
		cp.Routes[i] = &nr
	}
	return cp
}
