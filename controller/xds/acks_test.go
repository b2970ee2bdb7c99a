package xds

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// waitAcked polls until Acked(node)[typ] == want.
func waitAcked(t *testing.T, s *Server, typ, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s.Acked(testNode)[typ] == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("Acked[%s] = %q, want %q", typeName(typ), s.Acked(testNode)[typ], want)
}

// TestAckedFollowsSotWACKsNotNACKs: Acked reports what the data plane
// ACKed; a NACKed version never shows; observers hear each change.
func TestAckedFollowsSotWACKsNotNACKs(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	notified := 0
	s.OnAcked(func(node string) {
		if node == testNode {
			mu.Lock()
			notified++
			mu.Unlock()
		}
	})
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	if s.Acked(testNode) != nil {
		t.Fatal("acked before any data plane connected")
	}
	a := dialADS(t, startServer(t, s))
	subscribeAll(t, a)
	published := s.Versions(testNode)
	for _, typ := range Types {
		waitAcked(t, s, typ, published[typ])
	}
	// Observers are called after the ACK is recorded, outside the lock
	// that waitAcked reads under: wait for the calls themselves.
	awaitCount(&mu, func() int { return notified }, len(Types))
	mu.Lock()
	if notified != len(Types) {
		t.Errorf("observer called %d times, want %d (one per type)", notified, len(Types))
	}
	mu.Unlock()

	// A NACKed update leaves the ACKed version where it was.
	x := testIR(t)
	x.Clusters[0].Endpoints = nil
	if err := s.Update(testNode, x); err != nil {
		t.Fatal(err)
	}
	r := a.recv()
	a.send(r.GetTypeUrl(), published[r.GetTypeUrl()], r.GetNonce(), &status.Status{Code: int32(codes.InvalidArgument), Message: "no"})
	time.Sleep(100 * time.Millisecond)
	if got := s.Acked(testNode)[r.GetTypeUrl()]; got != published[r.GetTypeUrl()] {
		t.Fatalf("after a NACK Acked = %q, want the previous %q", got, published[r.GetTypeUrl()])
	}
	if s.Acked(testNode)[r.GetTypeUrl()] == s.Versions(testNode)[r.GetTypeUrl()] {
		t.Fatal("NACKed version reported as acked")
	}

	// A data plane reconnecting with the current version (no nonce, before
	// any ACK on the new stream) is at that version.
	s.Remove(testNode)
	if s.Acked(testNode) != nil {
		t.Fatal("Remove kept the acks")
	}
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	b := dialADS(t, startServer(t, s))
	b.send(resource.ListenerType, published[resource.ListenerType], "", nil)
	waitAcked(t, s, resource.ListenerType, published[resource.ListenerType])
}

// TestAckedFollowsDeltaACKs: a Delta ACK (nonce only, node only on the
// first request) maps to the system version of the response it answers.
func TestAckedFollowsDeltaACKs(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+startServer(t, s), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: testNode}, TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if s.Acked(testNode) != nil {
		t.Fatal("acked before the ACK")
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType, ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s, resource.ListenerType, s.Versions(testNode)[resource.ListenerType])
}

// awaitCount waits up to 5 s until count(), read under mu, reaches want: a
// callback's record that the caller then asserts on exactly.
func awaitCount(mu *sync.Mutex, count func() int, want int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := count()
		mu.Unlock()
		if n >= want {
			return
		}
	}
}
