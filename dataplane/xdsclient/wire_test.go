package xdsclient_test

import (
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// scriptedADS answers the client's CDS subscription with a fixed sequence
// of responses and reports every request; it checks what go-control-plane
// never sends (malformed responses).
type scriptedADS struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	responses []*discoveryv3.DiscoveryResponse
	requests  chan *discoveryv3.DiscoveryRequest
}

func (s *scriptedADS) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	next := 0
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		s.requests <- req
		// Answer the CDS subscription and every CDS ACK/NACK with the next
		// scripted response.
		if req.GetTypeUrl() == config.TypeCluster && next < len(s.responses) {
			if err := stream.Send(s.responses[next]); err != nil {
				return err
			}
			next++
		}
	}
}

func TestClientNACKsMalformedResponse(t *testing.T) {
	good, err := anypb.New(&clusterv3.Cluster{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := anypb.New(&listenerv3.Listener{Name: "l"})
	if err != nil {
		t.Fatal(err)
	}
	ads := &scriptedADS{
		requests: make(chan *discoveryv3.DiscoveryRequest, 32),
		responses: []*discoveryv3.DiscoveryResponse{
			{TypeUrl: config.TypeCluster, VersionInfo: "v1", Nonce: "n1", Resources: []*anypb.Any{good}},
			{TypeUrl: config.TypeCluster, VersionInfo: "v2", Nonce: "n2", Resources: []*anypb.Any{wrong}},
			{TypeUrl: config.TypeCluster, VersionInfo: "v3", Nonce: "n3", Resources: []*anypb.Any{{TypeUrl: config.TypeCluster, Value: []byte{0xff}}}},
		},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, ads)
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	h := &handler{}
	c := startClient(t, lis.Addr().String(), h)

	var cds []*discoveryv3.DiscoveryRequest
	timeout := time.After(5 * time.Second)
	for len(cds) < 4 {
		select {
		case r := <-ads.requests:
			if r.GetTypeUrl() == config.TypeCluster {
				cds = append(cds, proto.Clone(r).(*discoveryv3.DiscoveryRequest))
			}
		case <-timeout:
			t.Fatalf("got %d CDS requests, want 4", len(cds))
		}
	}
	// Subscribe, ACK v1, NACK v2 (wrong type), NACK v3 (undecodable).
	if cds[0].GetNode().GetId() != node || cds[0].GetVersionInfo() != "" || cds[0].GetResponseNonce() != "" {
		t.Errorf("subscription %v", cds[0])
	}
	if cds[1].GetVersionInfo() != "v1" || cds[1].GetResponseNonce() != "n1" || cds[1].GetErrorDetail() != nil {
		t.Errorf("ACK %v, want version v1 nonce n1", cds[1])
	}
	for i, nonce := range []string{"n2", "n3"} {
		r := cds[2+i]
		if r.GetVersionInfo() != "v1" || r.GetResponseNonce() != nonce || r.GetErrorDetail().GetCode() != int32(codes.InvalidArgument) {
			t.Errorf("NACK %v, want version v1 nonce %s INVALID_ARGUMENT", r, nonce)
		}
	}
	if st := c.Stats(); st.Accepted != 1 || st.NACKs != 2 || st.Versions[config.TypeCluster] != "v1" {
		t.Errorf("stats %+v", st)
	}
	if cur := h.current(); cur == nil || cur.Clusters["c"] == nil {
		t.Error("the accepted cluster is not the handler's state")
	}
}
