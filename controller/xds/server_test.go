package xds

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
)

const testNode = "edgeway-standalone"

// adsStream is a bare ADS client: these tests drive the protocol by hand so
// they can check exactly what the server sends.
type adsStream struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resp   chan *discoveryv3.DiscoveryResponse
}

func startServer(t *testing.T, s *Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func dialADS(t *testing.T, addr string) *adsStream {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &adsStream{t: t, stream: stream, resp: make(chan *discoveryv3.DiscoveryResponse, 16)}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				close(a.resp)
				return
			}
			a.resp <- r
		}
	}()
	return a
}

func (a *adsStream) send(typeURL, version, nonce string, errDetail *status.Status) {
	a.t.Helper()
	err := a.stream.Send(&discoveryv3.DiscoveryRequest{
		Node: &corev3.Node{Id: testNode}, TypeUrl: typeURL,
		VersionInfo: version, ResponseNonce: nonce, ErrorDetail: errDetail,
	})
	if err != nil && err != io.EOF {
		a.t.Fatal(err)
	}
}

func (a *adsStream) recv() *discoveryv3.DiscoveryResponse {
	a.t.Helper()
	select {
	case r, ok := <-a.resp:
		if !ok {
			a.t.Fatal("stream closed")
		}
		return r
	case <-time.After(5 * time.Second):
		a.t.Fatal("no response within 5s")
	}
	return nil
}

// quiet asserts that nothing arrives for a while (the server must not push
// unchanged types or re-send NACKed versions).
func (a *adsStream) quiet(d time.Duration) {
	a.t.Helper()
	select {
	case r := <-a.resp:
		a.t.Fatalf("unexpected response: type %s version %s", r.GetTypeUrl(), r.GetVersionInfo())
	case <-time.After(d):
	}
}

func testIR(t *testing.T) *ir.IR {
	return loadIR(t, "testdata/https-and-passthrough.in.yaml")
}

// subscribeAll opens wildcard subscriptions for all types and ACKs the first
// responses, returning them by type.
func subscribeAll(t *testing.T, a *adsStream) map[string]*discoveryv3.DiscoveryResponse {
	t.Helper()
	for _, typ := range Types {
		a.send(typ, "", "", nil)
	}
	got := map[string]*discoveryv3.DiscoveryResponse{}
	for range Types {
		r := a.recv()
		got[r.GetTypeUrl()] = r
		a.send(r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce(), nil)
	}
	return got
}

func TestServerPublishesAndOnlyPushesChangedTypes(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	a := dialADS(t, startServer(t, s))
	first := subscribeAll(t, a)
	for _, typ := range Types {
		r, ok := first[typ]
		if !ok {
			t.Fatalf("no %s response", typ)
		}
		if want := s.Versions(testNode)[typ]; r.GetVersionInfo() != want {
			t.Errorf("%s version %q, want %q", typ, r.GetVersionInfo(), want)
		}
	}
	if n := len(first[resource.ListenerType].GetResources()); n != 1 {
		t.Errorf("got %d listeners, want 1", n)
	}

	// Same IR again: nothing to push.
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	a.quiet(300 * time.Millisecond)

	// A route-only change pushes RDS and nothing else.
	x := testIR(t)
	x.RouteTables[0].VirtualHosts[0].Routes[0].ResponseHeaders = &ir.HeaderModifier{Remove: []string{"server"}}
	if err := s.Update(testNode, x); err != nil {
		t.Fatal(err)
	}
	r := a.recv()
	if r.GetTypeUrl() != resource.RouteType {
		t.Fatalf("got %s, want only %s", r.GetTypeUrl(), resource.RouteType)
	}
	if r.GetVersionInfo() == first[resource.RouteType].GetVersionInfo() {
		t.Error("RDS version did not change")
	}
	a.send(r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce(), nil)
	a.quiet(300 * time.Millisecond)
}

func TestServerDoesNotResendNACKedVersion(t *testing.T) {
	var mu sync.Mutex
	var nacks []*discoveryv3.DiscoveryRequest
	cb := server.CallbackFuncs{StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
		if req.GetErrorDetail() != nil {
			mu.Lock()
			nacks = append(nacks, proto.Clone(req).(*discoveryv3.DiscoveryRequest))
			mu.Unlock()
		}
		return nil
	}}
	s := NewServer(slog.New(slog.DiscardHandler), WithCallbacks(cb))
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	a := dialADS(t, startServer(t, s))
	first := subscribeAll(t, a)

	x := testIR(t)
	x.Clusters[0].Endpoints = nil
	if err := s.Update(testNode, x); err != nil {
		t.Fatal(err)
	}
	r := a.recv()
	if r.GetTypeUrl() != resource.EndpointType {
		t.Fatalf("got %s, want %s", r.GetTypeUrl(), resource.EndpointType)
	}
	prev := first[resource.EndpointType].GetVersionInfo()
	a.send(resource.EndpointType, prev, r.GetNonce(), &status.Status{Code: int32(codes.InvalidArgument), Message: "no"})
	// Stock go-control-plane would answer the NACK with the same version.
	a.quiet(300 * time.Millisecond)
	// The callback may run later than that on a loaded machine.
	awaitCount(&mu, func() int { return len(nacks) }, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(nacks) != 1 || nacks[0].GetVersionInfo() != prev || nacks[0].GetResponseNonce() != r.GetNonce() {
		t.Fatalf("callbacks saw %v, want one NACK with version %q nonce %q", nacks, prev, r.GetNonce())
	}

	// The next change of that type is sent.
	x.Clusters[0].Endpoints = []ir.Endpoint{{Address: "fd00::9", Port: 80}}
	if err := s.Update(testNode, x); err != nil {
		t.Fatal(err)
	}
	if r2 := a.recv(); r2.GetTypeUrl() != resource.EndpointType || r2.GetVersionInfo() == r.GetVersionInfo() {
		t.Fatalf("got %s version %s, want a new %s version", r2.GetTypeUrl(), r2.GetVersionInfo(), resource.EndpointType)
	}
}

func TestServerKeepsPreviousSnapshotOnError(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	before := s.Versions(testNode)
	x := testIR(t)
	x.Listeners[0].TLS[0].Terminate.Certificates = []string{"default/missing"}
	err := s.Update(testNode, x)
	if err == nil || !strings.Contains(err.Error(), `secret "default/missing" does not exist`) {
		t.Fatalf("want an error naming the missing secret, got %v", err)
	}
	after := s.Versions(testNode)
	for typ, v := range before {
		if after[typ] != v {
			t.Errorf("%s version changed from %s to %s after a failed update", typ, v, after[typ])
		}
	}
	snap, err := s.cache.GetSnapshot(testNode)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.GetVersion(resource.ListenerType); got != before[resource.ListenerType] {
		t.Errorf("cache listener version %s, want %s", got, before[resource.ListenerType])
	}
	if err := s.Update("", testIR(t)); err == nil {
		t.Error("empty node id accepted")
	}
}

// TestServerRefusesUnencodableResources: Update skips Translate's separate
// encoding check (its content hash marshals every resource), so a resource
// that cannot be encoded is still refused by name and the previous
// snapshot stays.
func TestServerRefusesUnencodableResources(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	good := loadIR(t, "testdata/clusters.in.yaml")
	if err := s.Update(testNode, good); err != nil {
		t.Fatal(err)
	}
	before := s.Versions(testNode)
	x := loadIR(t, "testdata/clusters.in.yaml")
	x.RouteTables[0].VirtualHosts[0].Routes[0].RequestHeaders = &ir.HeaderModifier{
		Set: []ir.Header{{Name: "x-a", Value: "\xff"}},
	}
	err := s.Update(testNode, x)
	if err == nil || !strings.Contains(err.Error(), `routes "0.0.0.0:80" cannot be encoded`) {
		t.Fatalf("want an error naming the route configuration, got %v", err)
	}
	if after := s.Versions(testNode); !maps.Equal(after, before) {
		t.Errorf("versions changed from %v to %v after a refused update", before, after)
	}
}

// TestServerServesDeltaADS: the same snapshot is served over Delta ADS.
func TestServerServesDeltaADS(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	if err := s.Update(testNode, testIR(t)); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
	if len(resp.GetResources()) != 1 || resp.GetResources()[0].GetName() != "[::]:443" {
		t.Fatalf("delta response %v, want the one listener", resp.GetResources())
	}
}
