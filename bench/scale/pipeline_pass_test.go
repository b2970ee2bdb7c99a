package main

import (
	"io"
	"log/slog"
	"math/rand/v2"
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
// needs an API server: the cache listing's deep copies (in the cache's
// order, which is not sorted), the Snapshot's sort, Gateway API
// translation (with the Source's gatewayapi.Translator), the split per Gateway, the comparison with the IR published
// last and the xDS update. Each op alternates between snap and snap with
// one route's path changed (a new resourceVersion), so every op publishes
// a change of one route, as a propagation sample of bench-scale does.
func benchPass(b *testing.B, n int, snap *snapshot.Snapshot) {
	worlds := [2]*snapshot.Snapshot{passWorld(snap, -1), passWorld(snap, n/2)}
	node := namespace + "/" + gatewayName
	b.Run("step=pass/routes="+strconv.Itoa(n), func(b *testing.B) {
		p := newPass()
		// The first pass translates every route: outside the measurement,
		// which is of changes (with few ops per -count round on a slow
		// machine, it would otherwise weigh on the result).
		p.run(b, listCopy(worlds[1]), node)
		b.ReportAllocs()
		report := cpuPerOp(b)
		i := 0
		for b.Loop() {
			p.run(b, listCopy(worlds[i%2]), node)
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

// listCopy is what a cache listing hands the Source: a new Snapshot of
// deep copies, in the cache's order.
func listCopy(snap *snapshot.Snapshot) *snapshot.Snapshot {
	out := &snapshot.Snapshot{ControllerName: snap.ControllerName, IsolateGateways: snap.IsolateGateways}
	for _, o := range snap.GatewayClasses {
		out.GatewayClasses = append(out.GatewayClasses, o.DeepCopy())
	}
	for _, o := range snap.Gateways {
		out.Gateways = append(out.Gateways, o.DeepCopy())
	}
	for _, o := range snap.HTTPRoutes {
		out.HTTPRoutes = append(out.HTTPRoutes, o.DeepCopy())
	}
	for _, o := range snap.Services {
		out.Services = append(out.Services, o.DeepCopy())
	}
	for _, o := range snap.EndpointSlices {
		out.EndpointSlices = append(out.EndpointSlices, o.DeepCopy())
	}
	return out
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

// run is one pass over a listed Snapshot; node must be published.
func (p *pass) run(b *testing.B, snap *snapshot.Snapshot, node string) {
	snap.Sort()
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
