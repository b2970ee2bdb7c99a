package config

import (
	"reflect"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

// cacheResources: three virtual hosts (a.example, b.example with a regex
// route, c.example), each to its cluster in clusterOf (cluster "c" or "d").
func cacheResources(clusterOf map[string]string) *Resources {
	r := testResources()
	d := testCluster()
	d.Name = "d"
	r.Clusters["d"] = d
	dcla := testCLA()
	dcla.ClusterName = "d"
	r.Endpoints["d"] = dcla
	rc := &routev3.RouteConfiguration{Name: "rc"}
	for _, host := range []string{"a.example", "b.example", "c.example"} {
		m := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
		if host == "b.example" {
			m = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/b/[0-9]+"}}}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: host, Domains: []string{host},
			Routes: []*routev3.Route{{Match: m, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: clusterOf[host]}}}}}})
	}
	r.Routes["rc"] = rc
	return r
}

func vhostRoute(t *testing.T, cfg *Config, host string) *Route {
	t.Helper()
	vh := cfg.Routes["rc"].VirtualHost(host)
	if vh == nil || len(vh.Routes) != 1 {
		t.Fatalf("%s: no virtual host with one route", host)
	}
	return vh.Routes[0]
}

// TestCompilerReusesUnchangedVirtualHosts: after one virtual host changed,
// the unchanged ones are reused (their compiled regex is the same object)
// but linked to the new configuration's clusters, while the configuration
// still served keeps pointing to its own: reuse never writes into it.
func TestCompilerReusesUnchangedVirtualHosts(t *testing.T) {
	var c Compiler
	first, err := c.Compile(cacheResources(map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"}))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Compile(cacheResources(map[string]string{"a.example": "c", "b.example": "c", "c.example": "d"}))
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := vhostRoute(t, first, "b.example"), vhostRoute(t, second, "b.example")
	if b1.Match.Regex == nil || b1.Match.Regex != b2.Match.Regex {
		t.Errorf("the unchanged virtual host b.example was compiled again (regex %p, then %p)", b1.Match.Regex, b2.Match.Regex)
	}
	for _, host := range []string{"a.example", "b.example"} {
		r1, r2 := vhostRoute(t, first, host), vhostRoute(t, second, host)
		if r1 == r2 || r1.Forward == r2.Forward {
			t.Errorf("%s: the second configuration shares the first one's route object, which its link would write", host)
		}
		if got := r1.Forward.Clusters.Entries[0].Cluster; got != first.Clusters["c"] {
			t.Errorf("%s: the first configuration's route now points to cluster %p, want its own %p", host, got, first.Clusters["c"])
		}
		if got := r2.Forward.Clusters.Entries[0].Cluster; got != second.Clusters["c"] {
			t.Errorf("%s: the second configuration's route points to cluster %p, want its own %p", host, got, second.Clusters["c"])
		}
	}
	if got := vhostRoute(t, second, "c.example").Forward.Clusters.Entries[0].Cluster; got != second.Clusters["d"] {
		t.Errorf("the changed virtual host c.example points to %p, want cluster d %p", got, second.Clusters["d"])
	}
}

// TestCompilerRefusesLikeCompile: an invalid virtual host is refused with
// the error Compile gives, also when the cache holds its valid version and
// its siblings; the refused update does not clear the cache, and the same
// content compiled twice in one update (two route configurations) is two
// objects.
func TestCompilerRefusesLikeCompile(t *testing.T) {
	var c Compiler
	good := map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"}
	first, err := c.Compile(cacheResources(good))
	if err != nil {
		t.Fatal(err)
	}

	bad := cacheResources(good)
	bad.Routes["rc"].VirtualHosts[1].RequireTls = routev3.VirtualHost_ALL
	_, want := Compile(bad)
	if want == nil {
		t.Fatal("Compile accepts a virtual host with require_tls")
	}
	if _, err := c.Compile(bad); err == nil || err.Error() != want.Error() {
		t.Fatalf("Compiler: %v, want the error of Compile: %v", err, want)
	}

	missing := cacheResources(good)
	missing.Routes["rc"].VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "none"}
	_, want = Compile(missing)
	if _, err := c.Compile(missing); err == nil || err.Error() != want.Error() {
		t.Fatalf("Compiler: %v, want the error of Compile: %v", err, want)
	}

	again := cacheResources(good)
	twin := proto.Clone(again.Routes["rc"]).(*routev3.RouteConfiguration)
	twin.Name = "rc2"
	again.Routes["rc2"] = twin
	third, err := c.Compile(again)
	if err != nil {
		t.Fatal(err)
	}
	if b1, b3 := vhostRoute(t, first, "b.example"), vhostRoute(t, third, "b.example"); b1.Match.Regex != b3.Match.Regex {
		t.Error("the refused updates cleared the cache: b.example was compiled again")
	}
	r1 := third.Routes["rc"].VirtualHost("b.example").Routes[0]
	r2 := third.Routes["rc2"].VirtualHost("b.example").Routes[0]
	if r1 == r2 {
		t.Error("two route configurations share one compiled route")
	}
}

// FuzzCompiler: one Compiler fed every fuzz input in turn agrees with
// Compile on each (same error text, or both accept), both when it keys its
// cache by marshalling the virtual hosts and when it keys it by the bytes
// they were received as (a RouteDecoder's, Resources.RouteWire): the fuzz
// input is decoded both ways, in turn, into the one cache.
func FuzzCompiler(f *testing.F) {
	base := testResources()
	b, err := proto.Marshal(base.Routes["rc"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	var c Compiler
	var d RouteDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		r := cacheResources(map[string]string{"a.example": "c", "b.example": "d", "c.example": "c"})
		var rc routev3.RouteConfiguration
		if proto.Unmarshal(data, &rc) != nil {
			return
		}
		// The fuzzed virtual hosts join the three known ones.
		rc.Name = "rc"
		rc.VirtualHosts = append(r.Routes["rc"].VirtualHosts, rc.VirtualHosts...)
		r.Routes["rc"] = &rc
		r.Clusters = map[string]*clusterv3.Cluster{"c": r.Clusters["c"], "d": r.Clusters["d"]}
		r.Endpoints = map[string]*endpointv3.ClusterLoadAssignment{"c": r.Endpoints["c"], "d": r.Endpoints["d"]}
		_, want := Compile(r)
		cfg, err := c.Compile(r)
		if (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("Compiler: %v, Compile: %v", err, want)
		}
		if err == nil {
			exercise(cfg)
		}

		b, err := proto.Marshal(&rc)
		if err != nil {
			t.Fatal(err)
		}
		drc, wire, err := d.Decode(b)
		d.Done()
		if err != nil {
			t.Fatalf("the marshalled route configuration does not decode: %v", err)
		}
		r.Routes["rc"] = drc
		r.RouteWire = map[*routev3.RouteConfiguration][]string{drc: wire}
		cfg, err = c.Compile(r)
		if (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("Compiler keyed by wire: %v, Compile: %v", err, want)
		}
		if err == nil {
			exercise(cfg)
		}
	})
}

// decodedResources: cacheResources with the route configuration decoded
// by d from its wire form, and its virtual hosts' wire forms.
func decodedResources(t *testing.T, d *RouteDecoder, clusterOf map[string]string) *Resources {
	t.Helper()
	r := cacheResources(clusterOf)
	b, err := proto.Marshal(r.Routes["rc"])
	if err != nil {
		t.Fatal(err)
	}
	rc, wire, err := d.Decode(b)
	d.Done()
	if err != nil {
		t.Fatal(err)
	}
	r.Routes["rc"] = rc
	r.RouteWire = map[*routev3.RouteConfiguration][]string{rc: wire}
	return r
}

// TestCompilerKeysByWire: with the virtual hosts' wire forms given, the
// unchanged ones are reused, and a wire entry for a message that is not
// the one compiled (or that does not match its virtual hosts) is ignored.
func TestCompilerKeysByWire(t *testing.T) {
	var c Compiler
	var d RouteDecoder
	first, err := c.Compile(decodedResources(t, &d, map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"}))
	if err != nil {
		t.Fatal(err)
	}
	next := decodedResources(t, &d, map[string]string{"a.example": "c", "b.example": "c", "c.example": "d"})
	second, err := c.Compile(next)
	if err != nil {
		t.Fatal(err)
	}
	if b1, b2 := vhostRoute(t, first, "b.example"), vhostRoute(t, second, "b.example"); b1.Match.Regex == nil || b1.Match.Regex != b2.Match.Regex {
		t.Error("the unchanged virtual host b.example was compiled again")
	}
	if got := vhostRoute(t, second, "c.example").Forward.Clusters.Entries[0].Cluster; got != second.Clusters["d"] {
		t.Errorf("the changed virtual host c.example points to %p, want cluster d %p", got, second.Clusters["d"])
	}

	// The wire forms of the second configuration, given with a message that
	// sends c.example to cluster c again: ignored, so c.example is
	// compiled from its message.
	stale := cacheResources(map[string]string{"a.example": "c", "b.example": "c", "c.example": "c"})
	stale.RouteWire = next.RouteWire
	third, err := c.Compile(stale)
	if err != nil {
		t.Fatal(err)
	}
	if got := vhostRoute(t, third, "c.example").Forward.Clusters.Entries[0].Cluster; got != third.Clusters["c"] {
		t.Errorf("c.example points to %p, want cluster c %p: a wire form of another message was used", got, third.Clusters["c"])
	}
	// Too few wire forms for the message's virtual hosts: ignored too.
	short := decodedResources(t, &d, map[string]string{"a.example": "c", "b.example": "c", "c.example": "d"})
	rc := short.Routes["rc"]
	short.RouteWire[rc] = short.RouteWire[rc][:2]
	if _, err := c.Compile(short); err != nil {
		t.Fatal(err)
	}
}

// TestLinkableCopy: a copy equals its original, and linking it (writing its
// entries' clusters) leaves the original alone, for a virtual host of one
// forwarding route and for one of several routes of each kind.
func TestLinkableCopy(t *testing.T) {
	c1, c2 := &Cluster{Name: "c1"}, &Cluster{Name: "c2"}
	one := &VirtualHost{Name: "one", Domains: []string{"a"}, Routes: []*Route{
		{Name: "f", Forward: &Forward{Clusters: WeightedClusters{Entries: []WeightedCluster{{Name: "c1", Cluster: c1, Weight: 1}}}}},
	}}
	several := &VirtualHost{Name: "several", Domains: []string{"b", "c"}, Routes: []*Route{
		{Name: "f2", Forward: &Forward{Clusters: WeightedClusters{Entries: []WeightedCluster{{Name: "c1", Cluster: c1, Weight: 1}, {Name: "c2", Cluster: c2, Weight: 3}}}}},
		{Name: "redirect", Redirect: &Redirect{}},
		{Name: "f1", Forward: &Forward{Clusters: WeightedClusters{Entries: []WeightedCluster{{Name: "c2", Cluster: c2, Weight: 1}}}}},
	}}
	for _, vh := range []*VirtualHost{one, several} {
		cp := vh.linkableCopy()
		if !reflect.DeepEqual(cp, vh) {
			t.Fatalf("%s: the copy differs: %+v", vh.Name, cp)
		}
		relinked := &Cluster{Name: "new"}
		for _, r := range cp.Routes {
			if r.Forward == nil {
				continue
			}
			for i := range r.Forward.Clusters.Entries {
				r.Forward.Clusters.Entries[i].Cluster = relinked
			}
		}
		for i, r := range vh.Routes {
			if r.Forward == nil {
				if cp.Routes[i].Redirect != r.Redirect {
					t.Errorf("%s: route %d's redirect is not shared", vh.Name, i)
				}
				continue
			}
			for _, e := range r.Forward.Clusters.Entries {
				if e.Cluster == relinked {
					t.Errorf("%s: linking the copy wrote route %d of the original", vh.Name, i)
				}
			}
		}
	}
}
