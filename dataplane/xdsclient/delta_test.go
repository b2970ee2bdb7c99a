package xdsclient_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"slices"
	"sync"
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

// deltaRequests records the incremental requests the server receives.
type deltaRequests struct {
	mu   sync.Mutex
	reqs []*discoveryv3.DeltaDiscoveryRequest
}

func (r *deltaRequests) all() []*discoveryv3.DeltaDiscoveryRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *deltaRequests) nacks() []*discoveryv3.DeltaDiscoveryRequest {
	var out []*discoveryv3.DeltaDiscoveryRequest
	for _, q := range r.all() {
		if q.GetErrorDetail() != nil {
			out = append(out, q)
		}
	}
	return out
}

type deltaControlPlane struct {
	xds  *xds.Server
	reqs *deltaRequests
	addr string
	stop func()
}

func startDeltaControlPlane(t *testing.T, addr string) *deltaControlPlane {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	reqs := &deltaRequests{}
	s := xds.NewServer(quiet, xds.WithCallbacks(server.CallbackFuncs{
		StreamDeltaRequestFunc: func(_ int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			reqs.mu.Lock()
			reqs.reqs = append(reqs.reqs, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest))
			reqs.mu.Unlock()
			return nil
		},
	}))
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
	return &deltaControlPlane{xds: s, reqs: reqs, addr: lis.Addr().String(), stop: stop}
}

func startDeltaClient(t *testing.T, addr string, h config.Handler) *xdsclient.Client {
	t.Helper()
	c := xdsclient.New(addr, node, h, quiet, xdsclient.WithDelta(), xdsclient.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
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

// twoClusterIR is testIR with a second, unused cluster.
func twoClusterIR(path, endpoint string) *ir.IR {
	x := testIR(path, endpoint)
	x.Clusters = append(x.Clusters, &ir.Cluster{Name: "service/default/spare/8080", Discovery: ir.DiscoveryEDS,
		Endpoints: []ir.Endpoint{{Address: "10.0.0.9", Port: 8080}}})
	return x
}

func TestDeltaUpdatesAndRemovals(t *testing.T) {
	cp := startDeltaControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, twoClusterIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{}
	c := startDeltaClient(t, cp.addr, h)
	eventually(t, "the first config", func() bool {
		r := h.current()
		return r != nil && len(r.Clusters) == 2 && len(r.Endpoints) == 2 && len(r.Listeners) == 1 && len(r.Routes) == 1 && len(r.Secrets) == 1
	})
	eventually(t, "ACKed versions", func() bool { return maps.Equal(c.Stats().Versions, cp.xds.Versions(node)) })

	// Wildcard subscriptions, in the contract's order, node on the first.
	var subs []string
	for _, q := range cp.reqs.all() {
		if q.GetResponseNonce() == "" {
			subs = append(subs, q.GetTypeUrl())
			if !slices.Equal(q.GetResourceNamesSubscribe(), []string{"*"}) {
				t.Errorf("subscription to %s: %v, want the wildcard", q.GetTypeUrl(), q.GetResourceNamesSubscribe())
			}
		}
	}
	if want := []string{config.TypeCluster, config.TypeEndpoint, config.TypeListener, config.TypeRoute, config.TypeSecret}; !slices.Equal(subs, want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}
	if cp.reqs.all()[0].GetNode().GetId() != node {
		t.Error("first request without the node")
	}

	// Route edit and cluster removal in one update.
	before := c.Stats().Accepted
	if err := cp.xds.Update(node, testIR("/v2", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route update and the removal", func() bool {
		r := h.current()
		return routePath(r) == "/v2" && len(r.Clusters) == 1 && len(r.Endpoints) == 1 && r.Clusters["service/default/echo/8080"] != nil
	})
	eventually(t, "ACKed versions", func() bool { return maps.Equal(c.Stats().Versions, cp.xds.Versions(node)) })
	// RDS, CDS and EDS changed; LDS and SDS were not re-sent.
	if got := c.Stats().Accepted - before; got != 3 {
		t.Errorf("%d responses for the update, want 3 (RDS, CDS, EDS)", got)
	}
	if st := c.Stats(); st.AcceptedByType[config.TypeListener] != 1 || st.NACKs != 0 {
		t.Errorf("stats %+v: the listener was re-sent or something was NACKed", st)
	}
}

func TestDeltaNACKKeepsPrevious(t *testing.T) {
	cp := startDeltaControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{reject: func(typeURL string, c *config.Resources) error {
		if typeURL == config.TypeEndpoint && endpointAddr(c) == "10.6.6.6" {
			return errors.New(`cluster load assignment "service/default/echo/8080": unsupported field "x"`)
		}
		return nil
	}}
	c := startDeltaClient(t, cp.addr, h)
	eventually(t, "the first config", func() bool { return complete(h.current()) })
	eventually(t, "all ACKs", func() bool { return c.Stats().Accepted == 5 })

	if err := cp.xds.Update(node, testIR("/v1", "10.6.6.6")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a NACK at the server", func() bool { return len(cp.reqs.nacks()) == 1 })
	nack := cp.reqs.nacks()[0]
	if nack.GetTypeUrl() != config.TypeEndpoint || nack.GetResponseNonce() == "" ||
		nack.GetErrorDetail().GetCode() != int32(codes.InvalidArgument) ||
		nack.GetErrorDetail().GetMessage() != `cluster load assignment "service/default/echo/8080": unsupported field "x"` {
		t.Errorf("NACK %v", nack)
	}
	if got := endpointAddr(h.current()); got != "10.0.0.1" {
		t.Errorf("handler state has endpoint %s after the NACK, want 10.0.0.1", got)
	}
	if st := c.Stats(); st.NACKs != 1 || st.NACKsByType[config.TypeEndpoint] != 1 ||
		st.Rejected[config.TypeEndpoint].Version != cp.xds.Versions(node)[config.TypeEndpoint] {
		t.Errorf("stats %+v, want one EDS NACK, of the published version %s", st, cp.xds.Versions(node)[config.TypeEndpoint])
	}
	// A later update of another type is built on the last good endpoints.
	if err := cp.xds.Update(node, testIR("/v3", "10.6.6.6")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route update", func() bool { return routePath(h.current()) == "/v3" })
	if got := endpointAddr(h.current()); got != "10.0.0.1" {
		t.Errorf("endpoint %s after a later update, want the last good 10.0.0.1", got)
	}
}

func TestDeltaReconnect(t *testing.T) {
	cp := startDeltaControlPlane(t, "127.0.0.1:0")
	if err := cp.xds.Update(node, testIR("/v1", "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	h := &handler{}
	c := startDeltaClient(t, cp.addr, h)
	eventually(t, "the first config", func() bool { return complete(h.current()) })
	eventually(t, "all ACKs", func() bool { return c.Stats().Accepted == 5 })

	cp.stop()
	eventually(t, "the client to notice", func() bool { return !c.Stats().Connected })
	if !complete(h.current()) || routePath(h.current()) != "/v1" {
		t.Fatal("the handler lost its config while the server was away")
	}
	cp2 := startDeltaControlPlane(t, cp.addr)
	if err := cp2.xds.Update(node, testIR("/v2", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new config", func() bool {
		return routePath(h.current()) == "/v2" && endpointAddr(h.current()) == "10.0.0.2" && complete(h.current())
	})
	// The resubscription told the new server what the client holds.
	for _, q := range cp2.reqs.all() {
		if q.GetResponseNonce() == "" && len(q.GetInitialResourceVersions()) != 1 {
			t.Errorf("resubscription to %s with initial versions %v, want the one resource held", q.GetTypeUrl(), q.GetInitialResourceVersions())
		}
	}
	if c.Stats().Reconnects < 1 {
		t.Error("no reconnect counted")
	}
}
