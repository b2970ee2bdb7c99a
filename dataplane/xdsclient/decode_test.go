package xdsclient

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
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
	})
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
	empty, err := candidate(cur, &discoveryv3.DiscoveryResponse{TypeUrl: config.TypeCluster})
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
			_, err := candidate(config.Resources{}, tc.resp)
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
