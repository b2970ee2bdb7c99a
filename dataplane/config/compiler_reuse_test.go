package config

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// withRoutes is base with its route configuration replaced by the one of
// clusterOf, decoded by d as the xDS client decodes it; the other types'
// messages are base's own (the xDS client passes them on unchanged).
func withRoutes(t *testing.T, d *RouteDecoder, base *Resources, clusterOf map[string]string) *Resources {
	t.Helper()
	r := *base
	dec := decodedResources(t, d, clusterOf)
	r.Routes, r.RouteWire = dec.Routes, dec.RouteWire
	return &r
}

// withNewClusters is r with new messages (of the same content) for its
// clusters and endpoints, plus the extra clusters, as after a CDS and an
// EDS update.
func withNewClusters(r *Resources, extra ...string) *Resources {
	out := *r
	out.Clusters, out.Endpoints = map[string]*clusterv3.Cluster{}, map[string]*endpointv3.ClusterLoadAssignment{}
	for n, c := range r.Clusters {
		out.Clusters[n] = proto.Clone(c).(*clusterv3.Cluster)
	}
	for n, e := range r.Endpoints {
		out.Endpoints[n] = proto.Clone(e).(*endpointv3.ClusterLoadAssignment)
	}
	for _, n := range extra {
		c := testCluster()
		c.Name = n
		out.Clusters[n] = c
		cla := testCLA()
		cla.ClusterName = n
		out.Endpoints[n] = cla
	}
	return &out
}

func compilerCompile(t *testing.T, c *Compiler, r *Resources) *Config {
	t.Helper()
	cfg, err := c.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// pointsTo fails unless host's route in cfg is linked to cfg's own cluster.
func pointsTo(t *testing.T, cfg *Config, host, cluster string) {
	t.Helper()
	if got := vhostRoute(t, cfg, host).Forward.Clusters.Entries[0].Cluster; got == nil || got != cfg.Clusters[cluster] {
		t.Errorf("%s points to cluster %p, want the configuration's %q (%p)", host, got, cluster, cfg.Clusters[cluster])
	}
}

// TestCompilerUsesUnchangedAsTheyAre: while the clusters, endpoints and
// secrets are the same messages, a route change keeps the compiled
// clusters and the unchanged virtual hosts as the very objects of the last
// configuration (nothing copied, nothing linked again); new cluster
// messages give new clusters and virtual hosts linked to them, which the
// next route change keeps in turn; the configurations served before are
// never written; and a virtual host compiled by a compile that ended
// incomplete is linked by the next one that completes.
func TestCompilerUsesUnchangedAsTheyAre(t *testing.T) {
	var c Compiler
	var d RouteDecoder
	base := cacheResources(map[string]string{})
	r1 := withRoutes(t, &d, base, map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"})
	cfg1 := compilerCompile(t, &c, r1)
	r2 := withRoutes(t, &d, base, map[string]string{"a.example": "c", "b.example": "c", "c.example": "d"})
	cfg2 := compilerCompile(t, &c, r2)
	if cfg2.Clusters["c"] != cfg1.Clusters["c"] {
		t.Error("the unchanged clusters were compiled again")
	}
	if cfg2.Routes["rc"].VirtualHost("b.example") != cfg1.Routes["rc"].VirtualHost("b.example") {
		t.Error("the unchanged virtual host b.example is not the last configuration's")
	}
	pointsTo(t, cfg2, "b.example", "c")
	pointsTo(t, cfg2, "c.example", "d")
	pointsTo(t, cfg1, "c.example", "c")

	r3 := withNewClusters(r2)
	cfg3 := compilerCompile(t, &c, r3)
	if cfg3.Clusters["c"] == cfg2.Clusters["c"] {
		t.Fatal("new cluster messages kept the compiled clusters")
	}
	if cfg3.Routes["rc"].VirtualHost("b.example") == cfg2.Routes["rc"].VirtualHost("b.example") {
		t.Error("b.example was used as it is with new clusters")
	}
	for _, host := range []string{"a.example", "b.example"} {
		pointsTo(t, cfg3, host, "c")
		pointsTo(t, cfg2, host, "c")
		pointsTo(t, cfg1, host, "c")
	}

	r4 := withRoutes(t, &d, r3, map[string]string{"a.example": "d", "b.example": "c", "c.example": "d"})
	cfg4 := compilerCompile(t, &c, r4)
	if cfg4.Routes["rc"].VirtualHost("b.example") != cfg3.Routes["rc"].VirtualHost("b.example") {
		t.Error("after new clusters, the next route change did not keep b.example as linked then")
	}
	pointsTo(t, cfg4, "a.example", "d")
	pointsTo(t, cfg3, "a.example", "c")

	// a.example to a cluster that is not there yet: incomplete. Then the
	// cluster comes (new cluster messages): a.example is linked to it.
	r5 := withRoutes(t, &d, r4, map[string]string{"a.example": "e", "b.example": "c", "c.example": "d"})
	if _, err := c.Compile(r5); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("a route to a missing cluster: %v, want incomplete", err)
	}
	r6 := withNewClusters(r5, "e")
	cfg6 := compilerCompile(t, &c, r6)
	pointsTo(t, cfg6, "a.example", "e")
	pointsTo(t, cfg6, "b.example", "c")
	// And the same resources once more: everything as it is.
	r7 := *r6
	cfg7 := compilerCompile(t, &c, &r7)
	for _, host := range []string{"a.example", "b.example", "c.example"} {
		if cfg7.Routes["rc"].VirtualHost(host) != cfg6.Routes["rc"].VirtualHost(host) {
			t.Errorf("%s changed in a compile of the same resources", host)
		}
	}
	pointsTo(t, cfg4, "a.example", "d")
}

// hostEdit is a random route configuration for TestCompilerMatchesCompile:
// hosts by name, in order, with the cluster each routes to.
type hostEdit struct {
	names    []string
	clusters map[string]string
}

type hostEdits [2]hostEdit

func (e hostEdits) clone() hostEdits {
	for k := range e {
		e[k] = hostEdit{names: slices.Clone(e[k].names), clusters: maps.Clone(e[k].clusters)}
	}
	return e
}

func (h hostEdit) routeConfig(name string) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: name}
	for _, n := range h.names {
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: "vh-" + n, Domains: []string{n},
			Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: h.clusters[n]}}}}}})
	}
	return rc
}

// TestCompilerMatchesCompile: one Compiler fed 300 random updates of two
// route configurations (hosts changed, removed, added, moved between the
// two, reordered; wildcard and catch-all names; names taken twice;
// virtual hosts that do not compile; new cluster messages now and then),
// each decoded as the xDS client decodes it, agrees with Compile on every
// one: the same error, or the same virtual host, linked to the
// configuration's own cluster, for every name asked.
func TestCompilerMatchesCompile(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var c Compiler
	var d RouteDecoder
	pool := []string{"*", "*.example", "*.a.example", "www.*", "bad*name"}
	for i := range 60 {
		pool = append(pool, fmt.Sprintf("h%02d.example", i), fmt.Sprintf("h%02d.a.example", i))
	}
	cfgs := hostEdits{}
	for k := range cfgs {
		cfgs[k] = hostEdit{clusters: map[string]string{}}
		for i := range 40 {
			n := fmt.Sprintf("h%02d.example", i+k*20)
			if !slices.Contains(cfgs[0].names, n) {
				cfgs[k].names = append(cfgs[k].names, n)
				cfgs[k].clusters[n] = "c"
			}
		}
	}
	base := cacheResources(map[string]string{})
	base.Listeners = nil // the route configurations alone
	reused, refused := 0, 0
	var last *Config
	good := cfgs.clone()
	for step := range 300 {
		k := rng.IntN(2)
		h := &cfgs[k]
		switch op := rng.IntN(10); {
		case op < 3 && len(h.names) > 0: // one host to another cluster
			n := h.names[rng.IntN(len(h.names))]
			h.clusters[n] = []string{"c", "d"}[rng.IntN(2)]
		case op < 4 && len(h.names) > 0: // removed
			i := rng.IntN(len(h.names))
			h.names = slices.Delete(h.names, i, i+1)
		case op < 6: // added anywhere, maybe taken already
			n := pool[rng.IntN(len(pool))]
			h.names = slices.Insert(h.names, rng.IntN(len(h.names)+1), n)
			h.clusters[n] = "c"
		case op < 7 && len(h.names) > 0: // moved to the other one
			i := rng.IntN(len(h.names))
			n := h.names[i]
			h.names = slices.Delete(h.names, i, i+1)
			o := &cfgs[1-k]
			o.names = slices.Insert(o.names, rng.IntN(len(o.names)+1), n)
			o.clusters[n] = h.clusters[n]
		case op < 8 && len(h.names) > 1: // two swapped
			i, j := rng.IntN(len(h.names)), rng.IntN(len(h.names))
			h.names[i], h.names[j] = h.names[j], h.names[i]
		case op < 9: // new cluster messages
			base = withNewClusters(base)
		}
		r := *base
		r.Routes = map[string]*routev3.RouteConfiguration{}
		r.RouteWire = map[*routev3.RouteConfiguration][]string{}
		for k, h := range cfgs {
			b, err := proto.Marshal(h.routeConfig(fmt.Sprint("rc", k)))
			if err != nil {
				t.Fatal(err)
			}
			rc, wire, err := d.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			r.Routes[rc.GetName()], r.RouteWire[rc] = rc, wire
		}
		d.Done()
		want, wantErr := Compile(&r)
		got, err := c.Compile(&r)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("step %d: Compiler: %v, Compile: %v", step, err, wantErr)
		}
		if err != nil {
			// Refused: the next update starts from the last good one,
			// as a control plane's answer to a NACK would.
			refused++
			cfgs = good.clone()
			continue
		}
		good = cfgs.clone()
		for name, wt := range want.Routes {
			gt := got.Routes[name]
			for _, host := range append(slices.Clone(pool), "x.example", "www.x", "H01.EXAMPLE", "a.example") {
				wv, gv := wt.VirtualHost(host), gt.VirtualHost(host)
				if (wv == nil) != (gv == nil) || (wv != nil && wv.Name != gv.Name) {
					t.Fatalf("step %d: %s: host %q: Compiler's virtual host %v, Compile's %v", step, name, host, gv, wv)
				}
				if gv == nil {
					continue
				}
				e := gv.Routes[0].Forward.Clusters.Entries[0]
				if e.Cluster != got.Clusters[e.Name] {
					t.Fatalf("step %d: %s: host %q is linked to a cluster not of its configuration", step, name, host)
				}
			}
			if last != nil && last.Routes[name] != nil && gt.hosts.changed != nil {
				reused++
			}
		}
		last = got
	}
	if reused < 100 || refused < 10 {
		t.Errorf("%d host indexes made from the last one, %d updates refused: the edits do not exercise what they should", reused, refused)
	}
}

// TestCompilerChecksNewListeners: a listener message the last compile
// checked is not walked again, but a new one is, and is refused as Compile
// refuses it; the refusal forgets nothing the next compile needs.
func TestCompilerChecksNewListeners(t *testing.T) {
	var c Compiler
	r := testResources()
	compilerCompile(t, &c, r)
	compilerCompile(t, &c, r)
	h := testHCM("rc")
	h.GenerateRequestId = wrapperspb.Bool(false)
	bad := *r
	bad.Listeners = map[string]*listenerv3.Listener{"0.0.0.0:8080": testListener(h)}
	_, want := Compile(&bad)
	if want == nil {
		t.Fatal("Compile accepts a connection manager with generate_request_id")
	}
	if _, err := c.Compile(&bad); err == nil || err.Error() != want.Error() {
		t.Fatalf("Compiler: %v, want the error of Compile: %v", err, want)
	}
	compilerCompile(t, &c, r)
}
