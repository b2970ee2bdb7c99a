package xdsclient

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/dataplane/config"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCandidateReplacesOnlyTheResponseType(t *testing.T) {
	cur := config.Resources{
		Listeners: map[string]*listenerv3.Listener{"l": {Name: "l"}},
		Clusters:  map[string]*clusterv3.Cluster{"old": {Name: "old"}},
	}
	next, err := candidate(cur, &discoveryv3.DiscoveryResponse{
		TypeUrl:   config.TypeCluster,
		Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{Name: "a"}), mustAny(t, &clusterv3.Cluster{Name: "b"})},
	}, &config.RouteDecoder{})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Clusters) != 2 || next.Clusters["a"] == nil || next.Clusters["b"] == nil {
		t.Errorf("clusters %v, want a and b", next.Clusters)
	}
	if next.Listeners["l"] == nil {
		t.Error("listeners lost")
	}
	if cur.Clusters["old"] == nil || len(cur.Clusters) != 1 {
		t.Error("the current state was modified")
	}
	// An empty response empties the type (State of the World).
	empty, err := candidate(cur, &discoveryv3.DiscoveryResponse{TypeUrl: config.TypeCluster}, &config.RouteDecoder{})
	if err != nil || len(empty.Clusters) != 0 {
		t.Errorf("empty response: %v, %v", empty.Clusters, err)
	}
}

func TestCandidateRejectsMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp *discoveryv3.DiscoveryResponse
		want string
	}{
		{"wrong resource type", &discoveryv3.DiscoveryResponse{
			TypeUrl:   config.TypeCluster,
			Resources: []*anypb.Any{mustAny(t, &listenerv3.Listener{Name: "l"})},
		}, `resources[0]: type "type.googleapis.com/envoy.config.listener.v3.Listener" in a response of type "type.googleapis.com/envoy.config.cluster.v3.Cluster"`},
		{"undecodable", &discoveryv3.DiscoveryResponse{
			TypeUrl:   config.TypeCluster,
			Resources: []*anypb.Any{{TypeUrl: config.TypeCluster, Value: []byte{0xff, 0xff, 0xff}}},
		}, "cannot decode"},
		{"unnamed", &discoveryv3.DiscoveryResponse{
			TypeUrl:   config.TypeCluster,
			Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{})},
		}, "empty name"},
		{"duplicate", &discoveryv3.DiscoveryResponse{
			TypeUrl:   config.TypeCluster,
			Resources: []*anypb.Any{mustAny(t, &clusterv3.Cluster{Name: "a"}), mustAny(t, &clusterv3.Cluster{Name: "a"})},
		}, `name "a" appears twice`},
		{"unknown type", &discoveryv3.DiscoveryResponse{
			TypeUrl: "type.googleapis.com/envoy.service.runtime.v3.Runtime",
		}, "not a type this data plane subscribes to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := candidate(config.Resources{}, tc.resp, &config.RouteDecoder{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(100e6, 1e9) // 100ms .. 1s
	var last int64
	for i := range 10 {
		d := b.next()
		ceiling := min(int64(100e6)<<i, int64(1e9))
		if int64(d) < ceiling/2 || int64(d) > ceiling {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, ceiling/2, ceiling)
		}
		last = int64(d)
	}
	if last < 5e8 {
		t.Errorf("delay did not reach the cap: %v", last)
	}
	b.reset()
	if d := b.next(); d > 100e6 {
		t.Errorf("after reset: %v, want <= 100ms", d)
	}
}

func routeConfig(name string, hosts ...string) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: name}
	for _, h := range hosts {
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: h, Domains: []string{h}})
	}
	return rc
}

// TestCandidateReusesUnchangedVirtualHosts: a route response decodes only
// the virtual hosts that changed since the last one (the others are the
// same messages) and gives the wire forms that key the compiler's cache,
// for SotW and incremental responses; an incremental response keeps the
// wire forms of the route configurations it does not touch and drops
// those it removes.
func TestCandidateReusesUnchangedVirtualHosts(t *testing.T) {
	var dec config.RouteDecoder
	first, err := candidate(config.Resources{}, &discoveryv3.DiscoveryResponse{TypeUrl: config.TypeRoute,
		Resources: []*anypb.Any{mustAny(t, routeConfig("rc", "a", "b")), mustAny(t, routeConfig("other", "x"))}}, &dec)
	if err != nil {
		t.Fatal(err)
	}
	second, err := candidate(*first, &discoveryv3.DiscoveryResponse{TypeUrl: config.TypeRoute,
		Resources: []*anypb.Any{mustAny(t, routeConfig("rc", "a", "c")), mustAny(t, routeConfig("other", "x"))}}, &dec)
	if err != nil {
		t.Fatal(err)
	}
	rc1, rc2 := first.Routes["rc"], second.Routes["rc"]
	if rc1.VirtualHosts[0] != rc2.VirtualHosts[0] {
		t.Error("the unchanged virtual host a was decoded again")
	}
	if rc2.VirtualHosts[1].GetName() != "c" {
		t.Errorf("virtual host 1 is %q, want the new c", rc2.VirtualHosts[1].GetName())
	}
	for _, r := range []*config.Resources{first, second} {
		if len(r.RouteWire) != 2 || len(r.RouteWire[r.Routes["rc"]]) != 2 || len(r.RouteWire[r.Routes["other"]]) != 1 {
			t.Fatalf("wire forms %v, want 2 for rc and 1 for other", r.RouteWire)
		}
	}

	delta := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: config.TypeRoute, RemovedResources: []string{"other"},
		Resources: []*discoveryv3.Resource{{Name: "third", Resource: mustAny(t, routeConfig("third", "a"))}}}
	third, err := deltaCandidate(*second, delta, &dec)
	if err != nil {
		t.Fatal(err)
	}
	if third.Routes["rc"] != rc2 || len(third.RouteWire) != 2 || len(third.RouteWire[rc2]) != 2 || len(third.RouteWire[third.Routes["third"]]) != 1 {
		t.Errorf("incremental update: routes %v, wire forms %v; want rc kept with its 2, third with 1, other gone", third.Routes, third.RouteWire)
	}
	if third.Routes["third"].VirtualHosts[0] != rc2.VirtualHosts[0] {
		t.Error("the incremental update decoded virtual host a again")
	}
}
