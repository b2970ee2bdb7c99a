package xdsclient_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

const node = "edgeway-standalone"

var quiet = slog.New(slog.DiscardHandler)

// handler records every candidate and rejects those reject says no to.
type handler struct {
	mu     sync.Mutex
	state  *config.Resources // last accepted candidate
	reject func(typeURL string, c *config.Resources) error
}

func (h *handler) Apply(typeURL string, c *config.Resources) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reject != nil {
		if err := h.reject(typeURL, c); err != nil {
			return err
		}
	}
	h.state = c
	return nil
}

func (h *handler) current() *config.Resources {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// requests records what data planes send, as the server's callbacks see it.
type requests struct {
	mu   sync.Mutex
	reqs []*discoveryv3.DiscoveryRequest
}

func (r *requests) callbacks() server.Callbacks {
	return server.CallbackFuncs{StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
		r.mu.Lock()
		r.reqs = append(r.reqs, proto.Clone(req).(*discoveryv3.DiscoveryRequest))
		r.mu.Unlock()
		return nil
	}}
}

func (r *requests) nacks() []*discoveryv3.DiscoveryRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*discoveryv3.DiscoveryRequest
	for _, q := range r.reqs {
		if q.GetErrorDetail() != nil {
			out = append(out, q)
		}
	}
	return out
}

func (r *requests) all() []*discoveryv3.DiscoveryRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// controlPlane is a controller/xds Server on a real socket.
type controlPlane struct {
	xds  *xds.Server
	reqs *requests
	addr string
	stop func()
}

func startControlPlane(t *testing.T, addr string) *controlPlane {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	reqs := &requests{}
	s := xds.NewServer(quiet, xds.WithCallbacks(reqs.callbacks()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, lis); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &controlPlane{xds: s, reqs: reqs, addr: lis.Addr().String(), stop: stop}
}

func startClient(t *testing.T, addr string, h config.Handler) *xdsclient.Client {
	t.Helper()
	c := xdsclient.New(addr, node, h, quiet, xdsclient.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testIR is one HTTP listener routing to one EDS cluster, with a secret so
// that every type has a resource.
func testIR(path string, endpoint string) *ir.IR {
	return &ir.IR{
		Listeners: []*ir.Listener{{Name: "127.0.0.1:18080", Address: "127.0.0.1", Port: 18080, HTTP: &ir.HTTPChain{RouteTable: "rt"}}},
		RouteTables: []*ir.RouteTable{{Name: "rt", VirtualHosts: []*ir.VirtualHost{{
			Name: "any", Domains: []string{"*"},
			Routes: []*ir.Route{{
				Name:    "default/r/rule/0/match/0",
				Match:   ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: path}},
				Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: "service/default/echo/8080", Weight: 1}}},
			}},
		}}}},
		Clusters: []*ir.Cluster{{Name: "service/default/echo/8080", Discovery: ir.DiscoveryEDS,
			Endpoints: []ir.Endpoint{{Address: endpoint, Port: 8080}}}},
		Secrets: []*ir.Secret{{Name: "default/cert", CertChain: "cert", PrivateKey: "key"}},
	}
}

func routePath(r *config.Resources) string {
	if r == nil || r.Routes["rt"] == nil {
		return ""
	}
	return r.Routes["rt"].GetVirtualHosts()[0].GetRoutes()[0].GetMatch().GetPathSeparatedPrefix()
}

func endpointAddr(r *config.Resources) string {
	if r == nil || r.Endpoints["service/default/echo/8080"] == nil {
		return ""
	}
	return r.Endpoints["service/default/echo/8080"].GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
}

func complete(r *config.Resources) bool {
	return r != nil && len(r.Listeners) == 1 && len(r.Routes) == 1 && len(r.Clusters) == 1 && len(r.Endpoints) == 1 && len(r.Secrets) == 1
}

func TestClientReceivesAndAppliesUpdates(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{}
	c := startClient(t, cp.addr, h)

	eventually(t, "the first config", func() bool { return complete(h.current()) && routePath(h.current()) == "/v1" })
	eventually(t, "ACKed versions", func() bool { return maps.Equal(c.Stats().Versions, cp.xds.Versions(node)) })
	st := c.Stats()
	if !st.Connected || st.Accepted != 5 || st.NACKs != 0 {
		t.Fatalf("stats %+v, want connected, 5 accepted, 0 NACKs", st)
	}

	// The subscriptions: wildcard, in the contract's order, node on the first.
	var subs []string
	for _, q := range cp.reqs.all() {
		if q.GetResponseNonce() == "" {
			subs = append(subs, q.GetTypeUrl())
			if len(q.GetResourceNames()) != 0 {
				t.Errorf("subscription to %s names resources %v, want wildcard", q.GetTypeUrl(), q.GetResourceNames())
			}
		}
	}
	want := []string{config.TypeCluster, config.TypeEndpoint, config.TypeListener, config.TypeRoute, config.TypeSecret}
	if !slices.Equal(subs, want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}

	// A second update: only RDS changes, and is applied.
	if err := cp.xds.Update(node, testIR("/v2", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route update", func() bool { return routePath(h.current()) == "/v2" })
	eventually(t, "the new RDS version ACKed", func() bool { return maps.Equal(c.Stats().Versions, cp.xds.Versions(node)) })
	if got := c.Stats().Accepted; got != 6 {
		t.Errorf("accepted %d responses, want 6 (only RDS re-sent)", got)
	}
	// Every ACK echoes the version and nonce of a response.
	for _, q := range cp.reqs.all() {
		if q.GetResponseNonce() != "" && q.GetErrorDetail() == nil && q.GetVersionInfo() == "" {
			t.Errorf("ACK for %s with nonce %s has no version", q.GetTypeUrl(), q.GetResponseNonce())
		}
	}
}

func TestClientNACKsRejectedConfigAndKeepsPreviousState(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{reject: func(typeURL string, c *config.Resources) error {
		if typeURL == config.TypeEndpoint && endpointAddr(c) == "10.6.6.6" {
			return errors.New(`endpoints "service/default/echo/8080": address 10.6.6.6 is not allowed`)
		}
		return nil
	}}
	c := startClient(t, cp.addr, h)
	eventually(t, "the first config", func() bool { return complete(h.current()) })
	eventually(t, "all ACKs", func() bool { return c.Stats().Accepted == 5 })
	good := c.Stats().Versions[config.TypeEndpoint]

	if err := cp.xds.Update(node, testIR("/v1", "10.6.6.6")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a NACK at the server", func() bool { return len(cp.reqs.nacks()) == 1 })
	nack := cp.reqs.nacks()[0]
	if nack.GetTypeUrl() != config.TypeEndpoint {
		t.Errorf("NACK for %s, want %s", nack.GetTypeUrl(), config.TypeEndpoint)
	}
	if nack.GetVersionInfo() != good {
		t.Errorf("NACK version_info %q, want the previous accepted %q", nack.GetVersionInfo(), good)
	}
	if nack.GetResponseNonce() == "" {
		t.Error("NACK without a nonce")
	}
	if d := nack.GetErrorDetail(); d.GetCode() != int32(codes.InvalidArgument) || d.GetMessage() != `endpoints "service/default/echo/8080": address 10.6.6.6 is not allowed` {
		t.Errorf("error_detail %v, want INVALID_ARGUMENT with the handler's message", d)
	}
	st := c.Stats()
	if st.NACKs != 1 || st.Versions[config.TypeEndpoint] != good {
		t.Errorf("stats %+v, want 1 NACK and EDS still at %s", st, good)
	}
	// Stats names the rejected version, the one published, and why.
	rejected := xdsclient.Rejection{Version: cp.xds.Versions(node)[config.TypeEndpoint], Error: `endpoints "service/default/echo/8080": address 10.6.6.6 is not allowed`}
	if len(st.Rejected) != 1 || st.Rejected[config.TypeEndpoint] != rejected {
		t.Errorf("Rejected %+v, want only EDS: %+v", st.Rejected, rejected)
	}
	if got := endpointAddr(h.current()); got != "10.0.0.1" {
		t.Errorf("handler state has endpoint %s, want the previous 10.0.0.1", got)
	}

	// The next update of another type is built on the previous endpoints,
	// not the rejected ones.
	next := testIR("/v3", "10.6.6.6")
	if err := cp.xds.Update(node, next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route update", func() bool { return routePath(h.current()) == "/v3" })
	if got := endpointAddr(h.current()); got != "10.0.0.1" {
		t.Errorf("candidate after a NACK carries endpoint %s, want 10.0.0.1", got)
	}
	// And the rejected version was not re-sent in a loop.
	time.Sleep(100 * time.Millisecond)
	if n := len(cp.reqs.nacks()); n != 1 {
		t.Errorf("%d NACKs, want 1: the server re-sent a rejected version", n)
	}
	// An accepted version of the type clears its rejection.
	if err := cp.xds.Update(node, testIR("/v3", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fixed endpoints", func() bool { return endpointAddr(h.current()) == "10.0.0.2" })
	if st := c.Stats(); len(st.Rejected) != 0 {
		t.Errorf("Rejected %+v after EDS was accepted again, want none", st.Rejected)
	}
}

// TestClientOnResultSeesEachOutcome: the WithOnResult observer runs after
// every response, with Stats already showing its outcome.
func TestClientOnResultSeesEachOutcome(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{reject: func(typeURL string, c *config.Resources) error {
		if typeURL == config.TypeEndpoint && endpointAddr(c) == "10.6.6.6" {
			return errors.New("not allowed")
		}
		return nil
	}}
	var mu sync.Mutex
	var seen []xdsclient.Stats
	var c *xdsclient.Client
	ready := make(chan struct{})
	c = xdsclient.New(cp.addr, node, h, quiet, xdsclient.WithOnResult(func() {
		<-ready
		mu.Lock()
		seen = append(seen, c.Stats())
		mu.Unlock()
	}))
	close(ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	eventually(t, "all ACKs", func() bool { return c.Stats().Accepted == 5 })
	if err := cp.xds.Update(node, testIR("/v1", "10.6.6.6")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a NACK at the server", func() bool { return len(cp.reqs.nacks()) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Fatalf("the observer ran %d times, want 6 (5 accepted, 1 rejected)", len(seen))
	}
	for i, st := range seen[:5] {
		if st.Accepted != uint64(i+1) {
			t.Errorf("call %d saw %d accepted, want %d", i+1, st.Accepted, i+1)
		}
	}
	if last := seen[5]; last.NACKs != 1 || last.Rejected[config.TypeEndpoint].Error != "not allowed" {
		t.Errorf("the last call saw %+v, want the NACK", last)
	}
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{}
	c := startClient(t, cp.addr, h)
	eventually(t, "the first config", func() bool { return complete(h.current()) })
	eventually(t, "all ACKs", func() bool { return c.Stats().Accepted == 5 })
	acked := c.Stats().Versions

	cp.stop()
	eventually(t, "the client to notice", func() bool { return !c.Stats().Connected })
	if !complete(h.current()) || routePath(h.current()) != "/v1" {
		t.Fatal("the handler lost its config when the server went away")
	}

	// A new controller (fresh cache) on the same address with a new config.
	cp2 := startControlPlane(t, cp.addr)
	if err := cp2.xds.Update(node, testIR("/v2", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new config", func() bool {
		return routePath(h.current()) == "/v2" && endpointAddr(h.current()) == "10.0.0.2"
	})
	st := c.Stats()
	if !st.Connected || st.Reconnects < 1 {
		t.Errorf("stats %+v, want connected after at least one reconnect", st)
	}
	// On reconnect the client resubscribed with its last accepted versions.
	for _, q := range cp2.reqs.all() {
		if q.GetResponseNonce() == "" && q.GetVersionInfo() != acked[q.GetTypeUrl()] {
			t.Errorf("resubscription to %s with version %q, want the last ACKed %q", q.GetTypeUrl(), q.GetVersionInfo(), acked[q.GetTypeUrl()])
		}
	}
}

// TestClientResyncRetriesRefusedVersion: a version refused for a cause
// outside the configuration is applied once the cause is gone and Resync
// asks the server again, without the server publishing anything new; over
// SotW and delta alike.
func TestClientResyncRetriesRefusedVersion(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			var cp struct {
				xds  *xds.Server
				addr string
			}
			if delta {
				d := startDeltaControlPlane(t, "127.0.0.1:0")
				cp.xds, cp.addr = d.xds, d.addr
			} else {
				s := startControlPlane(t, "127.0.0.1:0")
				cp.xds, cp.addr = s.xds, s.addr
			}
			if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
				t.Fatal(err)
			}
			var busy atomic.Bool // the outside cause: while set, 10.6.6.6 is refused
			busy.Store(true)
			h := &handler{reject: func(typeURL string, c *config.Resources) error {
				if typeURL == config.TypeEndpoint && endpointAddr(c) == "10.6.6.6" && busy.Load() {
					return errors.New("address 10.6.6.6 busy")
				}
				return nil
			}}
			var c *xdsclient.Client
			if delta {
				c = startDeltaClient(t, cp.addr, h)
			} else {
				c = startClient(t, cp.addr, h)
			}
			eventually(t, "the first config", func() bool { return complete(h.current()) })
			if err := cp.xds.Update(node, testIR("/v1", "10.6.6.6")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the refusal", func() bool { return len(c.Stats().Rejected) == 1 })

			busy.Store(false)
			time.Sleep(100 * time.Millisecond)
			if got := endpointAddr(h.current()); got != "10.0.0.1" {
				t.Fatalf("endpoint %s before Resync: the server re-sent a refused version by itself", got)
			}
			c.Resync()
			eventually(t, "the refused version applied after Resync", func() bool { return endpointAddr(h.current()) == "10.6.6.6" })
			eventually(t, "everything published in force", func() bool { return maps.Equal(c.Stats().Versions, cp.xds.Versions(node)) })
			if st := c.Stats(); len(st.Rejected) != 0 || strings.Contains(st.LastError, "canceled") {
				t.Errorf("after Resync: Rejected %+v, last error %q", st.Rejected, st.LastError)
			}
		})
	}
}
