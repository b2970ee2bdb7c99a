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
// A route configuration's virtual hosts are first compared in order with
// the ones of its last compile (aligner), which costs one comparison of
// bytes each (none when the RouteDecoder kept the same string); only those
// that do not line up are looked up in the map by their bytes. The map is
// kept from compile to compile and changed only where the virtual hosts
// changed, rather than rebuilt with every virtual host per compile.
//
// A compiled virtual host is immutable once its configuration is served,
// except that link writes the cluster pointers of its forward actions. So
// the one compiled here is linked by the compile that made it (before it
// is served). A later compile whose clusters are the very objects it was
// linked to (the same cluster generation, see clusterStage) uses it as it
// is, without linking it again; any other gets a copy (linkableCopy) that
// its own compile links, and which then replaces it here.
//
// A nil *vhostCache caches nothing. Not safe for concurrent use.
type vhostCache struct {
	byKey  map[string]*vhostEntry   // of the last committed compile
	tables map[string][]*vhostEntry // route configuration name -> its entries, index for index
	routes map[string]*RouteTable   // route configuration name -> its table (indexHosts)

	// The compile in progress.
	epoch   uint64                   // counts compiles; vhostEntry.used
	gen     uint64                   // its cluster generation
	next    map[string][]*vhostEntry // its tables
	nextRT  map[string]*RouteTable
	pending map[string]*vhostEntry // compiled by it, by key
	relink  []relinked             // what its link is to link
}

// vhostEntry is one compiled virtual host.
type vhostEntry struct {
	key    string
	vh     *VirtualHost
	linked uint64 // the cluster generation vh is linked to; 0: not known to be linked
	used   uint64 // the last compile that used vh
}

// relinked is a virtual host a compile links (compiled or copied by it),
// and its entry.
type relinked struct {
	e  *vhostEntry
	vh *VirtualHost
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

// begin starts a compile whose clusters are of generation gen; commit
// keeps its virtual hosts for the next one (those of the last compile that
// this one did not use are dropped), abort forgets them.
func (c *vhostCache) begin(gen uint64) {
	if c == nil {
		return
	}
	c.epoch++
	c.gen = gen
	c.next = make(map[string][]*vhostEntry, len(c.tables))
	c.nextRT = make(map[string]*RouteTable, len(c.routes))
	c.pending = nil
	c.relink = c.relink[:0]
}

func (c *vhostCache) commit() {
	if c == nil {
		return
	}
	for _, entries := range c.tables {
		for _, e := range entries {
			if e != nil && e.used != c.epoch && c.byKey[e.key] == e {
				delete(c.byKey, e.key)
			}
		}
	}
	if c.byKey == nil {
		c.byKey = make(map[string]*vhostEntry, len(c.pending))
	}
	for k, e := range c.pending {
		c.byKey[k] = e
	}
	c.tables, c.next, c.pending = c.next, nil, nil
	c.routes, c.nextRT = c.nextRT, nil
}

func (c *vhostCache) abort() {
	if c == nil {
		return
	}
	c.next, c.pending, c.nextRT = nil, nil, nil
	c.relink = c.relink[:0]
}

// linked records that the compile's link succeeded: what it linked is
// linked to the compile's clusters, and replaces its entry's virtual host
// for the compiles with the same clusters.
func (c *vhostCache) linked() {
	if c == nil {
		return
	}
	for _, r := range c.relink {
		if r.e.linked != c.gen {
			r.e.vh, r.e.linked = r.vh, c.gen
		}
	}
	c.relink = c.relink[:0]
}

// routeTable is the cache's view of one route configuration's compile.
type routeTable struct {
	c       *vhostCache
	name    string
	last    []*vhostEntry // of the last compile of the same name
	keys    []string
	entries []*vhostEntry // found (or, by place, compiled) for each virtual host
	al      aligner
}

// table starts the compile of route configuration name, whose virtual
// hosts have the given keys ("": not cached).
func (c *vhostCache) table(name string, keys []string) *routeTable {
	t := &routeTable{c: c, name: name, keys: keys}
	if c != nil {
		t.last = c.tables[name]
		t.entries = make([]*vhostEntry, len(keys))
		c.next[name] = t.entries
	}
	return t
}

// find looks up the entry of virtual host i; call it for i = 0, 1, ... in
// order. Nil when it was not compiled by the last or this compile.
func (t *routeTable) find(i int) *vhostEntry {
	if t.c == nil || t.keys[i] == "" {
		return nil
	}
	key := t.keys[i]
	// The common case first, without a call: the next one is unchanged.
	if j := t.al.j; j < len(t.last) && t.last[j].key == key {
		t.al.j++
		t.entries[i] = t.last[j]
		return t.last[j]
	}
	if j := t.al.match(i, len(t.keys), len(t.last), t.eq); j >= 0 {
		t.entries[i] = t.last[j]
		return t.last[j]
	}
	e, ok := t.c.pending[key]
	if !ok {
		e = t.c.byKey[key]
	}
	t.entries[i] = e
	return e
}

// prevTable is the table the last committed compile made of the same
// name; nil if none or no cache.
func (t *routeTable) prevTable() *RouteTable {
	if t.c == nil {
		return nil
	}
	return t.c.routes[t.name]
}

// done records the table the compile made.
func (t *routeTable) done(rt *RouteTable) {
	if t.c != nil {
		t.c.nextRT[t.name] = rt
	}
}

func (t *routeTable) eq(i, j int) bool { return t.keys[i] == t.last[j].key }

// take returns the virtual host for place i (found by find, else compile
// is called) and whether the compile's link must link it.
func (t *routeTable) take(i int, compile func() (*VirtualHost, error)) (*VirtualHost, bool, error) {
	var e *vhostEntry
	if t.c != nil {
		e = t.entries[i]
	}
	if e == nil {
		vh, err := compile()
		if err != nil || t.c == nil || t.keys[i] == "" {
			return vh, true, err
		}
		e = &vhostEntry{key: t.keys[i], vh: vh, used: t.c.epoch}
		if t.c.pending == nil {
			t.c.pending = map[string]*vhostEntry{}
		}
		t.c.pending[e.key] = e
		t.entries[i] = e
		t.c.relink = append(t.c.relink, relinked{e, vh})
		return vh, true, nil
	}
	if e.linked == t.c.gen && e.used != t.c.epoch {
		e.used = t.c.epoch
		return e.vh, false, nil
	}
	e.used = t.c.epoch
	vh := e.vh.linkableCopy()
	t.c.relink = append(t.c.relink, relinked{e, vh})
	return vh, true, nil
}

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
