package main

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
)

// benchPass is step=pass: the controller's whole pass for a change of one
// route, as controller/source/kube's Source.translate runs it, less what
// needs an API server: the build's listing of the informer cache (a map,
// listed in map order, as the store's List does) through a copy memo like
// the Source's (copies.go: the same copy of an unchanged object, a new deep
// copy of a changed one), the Snapshot's sort, Gateway API translation
// (with the Source's gatewayapi.Translator), the split per Gateway, the
// comparison with the IR published last and the xDS update. Each op puts
// the other version of one route into the cache (its rule's path changed,
// a new resourceVersion and generation), so every op publishes a change of
// one route, as a propagation sample of bench-scale does.
func benchPass(b *testing.B, n int, snap *snapshot.Snapshot) {
	worlds := [2]*snapshot.Snapshot{passWorld(snap, -1), passWorld(snap, n/2)}
	changed := worlds[1].HTTPRoutes[slices.IndexFunc(worlds[1].HTTPRoutes, func(r *gwv1.HTTPRoute) bool { return r.Generation == 2 })]
	versions := [2]*gwv1.HTTPRoute{worlds[0].HTTPRoutes[slices.IndexFunc(worlds[0].HTTPRoutes, func(r *gwv1.HTTPRoute) bool { return r.UID == changed.UID })], changed}
	node := namespace + "/" + gatewayName
	b.Run("step=pass/routes="+strconv.Itoa(n), func(b *testing.B) {
		p := newPass()
		cache := newPassCache(worlds[1])
		// The first pass translates every route: outside the measurement,
		// which is of changes (with few ops per -count round on a slow
		// machine, it would otherwise weigh on the result).
		p.run(b, cache.list(), node)
		b.ReportAllocs()
		report := cpuPerOp(b)
		i := 0
		for b.Loop() {
			cache.put(versions[i%2])
			p.run(b, cache.list(), node)
			i++
		}
		report()
		if p.translator.Compiled != 1 {
			b.Fatalf("the Translator compiled %d routes for a change of one (reused %d)", p.translator.Compiled, p.translator.Reused)
		}
	})
}

// passWorld is a copy of snap in the order a cache lists it (shuffled with
// a fixed seed) whose routes carry a UID, resourceVersion and generation,
// as the API server's do; with changed >= 0, that route's rule matches
// /changed instead and its resourceVersion and generation are 2.
func passWorld(snap *snapshot.Snapshot, changed int) *snapshot.Snapshot {
	out := *snap
	out.HTTPRoutes = make([]*gwv1.HTTPRoute, len(snap.HTTPRoutes))
	for i, r := range snap.HTTPRoutes {
		c := r.DeepCopy()
		c.UID = types.UID("uid-" + c.Namespace + "-" + c.Name)
		c.ResourceVersion, c.Generation = "1", 1
		if i == changed {
			prefix := gwv1.PathMatchPathPrefix
			value := "/changed"
			c.Spec.Rules[0].Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &prefix, Value: &value}}}
			c.ResourceVersion, c.Generation = "2", 2
		}
		out.HTTPRoutes[i] = c
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(out.HTTPRoutes), func(i, j int) {
		out.HTTPRoutes[i], out.HTTPRoutes[j] = out.HTTPRoutes[j], out.HTTPRoutes[i]
	})
	return &out
}

// passCache is the informer cache and the Source's copy memo for
// HTTPRoutes, the kind a pass's change is of: the cache's objects by
// namespace/name (a store's map), and the copy last handed out of each, by
// UID, with the resourceVersion it was made at. The other kinds do not
// change: their copies are the same objects in every listing.
type passCache struct {
	base   *snapshot.Snapshot
	routes map[string]*gwv1.HTTPRoute
	copies map[types.UID]*passCopy
	build  uint64
	sorter snapshot.Sorter // as the build's
}

type passCopy struct {
	resourceVersion string
	obj             *gwv1.HTTPRoute
	seen            uint64
}

func newPassCache(snap *snapshot.Snapshot) *passCache {
	c := &passCache{base: snap, routes: map[string]*gwv1.HTTPRoute{}, copies: map[types.UID]*passCopy{}}
	for _, r := range snap.HTTPRoutes {
		c.put(r)
	}
	return c
}

// put stores r as the cache's object of its namespace and name.
func (c *passCache) put(r *gwv1.HTTPRoute) { c.routes[r.Namespace+"/"+r.Name] = r }

// list is what the Source's build hands the pass: a new Snapshot whose
// HTTPRoutes are, listed in the cache's map order, each the copy made
// earlier when its UID and resourceVersion are unchanged, else a new deep
// copy; copies of objects not listed are dropped. Then it is sorted, from
// the last listing's order, as the build sorts.
func (c *passCache) list() *snapshot.Snapshot {
	c.build++
	out := *c.base
	out.HTTPRoutes = make([]*gwv1.HTTPRoute, 0, len(c.routes))
	for _, r := range c.routes {
		e := c.copies[r.UID]
		if e == nil {
			e = &passCopy{}
			c.copies[r.UID] = e
		}
		if e.obj == nil || e.resourceVersion != r.ResourceVersion {
			e.resourceVersion, e.obj = r.ResourceVersion, r.DeepCopy()
		}
		e.seen = c.build
		out.HTTPRoutes = append(out.HTTPRoutes, e.obj)
	}
	if len(c.copies) != len(c.routes) { // as copies.go's end: only when some copy was not seen
		for uid, e := range c.copies {
			if e.seen != c.build {
				delete(c.copies, uid)
			}
		}
	}
	c.sorter.Sort(&out)
	return &out
}

// pass holds what the Source keeps between passes: the xDS server and the
// IR published last per node, and its Translator.
type pass struct {
	srv        *xds.Server
	published  map[string]*ir.IR
	translator gatewayapi.Translator
}

func newPass() *pass {
	return &pass{srv: xds.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil))), published: map[string]*ir.IR{}}
}

// run is one pass over a listed (and sorted) Snapshot; node must be
// published.
func (p *pass) run(b *testing.B, snap *snapshot.Snapshot, node string) {
	out, statuses := p.translator.Translate(snap)
	parts := ir.SplitByGateway(out)
	for _, g := range statuses.Gateways {
		id := g.Namespace + "/" + g.Name
		x := parts[id]
		if x == nil {
			x = &ir.IR{}
		}
		if prev, ok := p.published[id]; ok && ir.Equal(prev, x) {
			continue
		}
		if err := p.srv.Update(id, x); err != nil {
			b.Fatal(err)
		}
		p.published[id] = x
	}
	if p.published[node] == nil {
		b.Fatalf("node %s not published", node)
	}
}
