package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
)

// nackRecorder captures the error_detail of every NACK the server receives.
type nackRecorder struct {
	serverv3.CallbackFuncs
	mu    sync.Mutex
	nacks []string
}

func (n *nackRecorder) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.nacks...)
}

// startDataplane runs edgeway-dataplane against an xDS server of the test.
// stop ends it (SIGINT) and prints its logs if the test failed; call it
// before the server stops, or the data plane's last words are reconnects.
func startDataplane(t *testing.T, xdsServer, node string) (cmd *exec.Cmd, logs *syncBuffer, stop func()) {
	t.Helper()
	cmd = exec.Command(dataplaneBin, "--xds-server", xdsServer, "--node-id", node, "--admin-address", freeAddr(t))
	logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, logs, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dataplane logs:\n%s", logs.String())
		}
	}
}

// TestDataplaneNACKsUnimplementedFieldAndKeepsServing runs the real
// `edgeway dataplane` against an xDS server in the test. A Listener carrying
// a field outside the contract (HttpConnectionManager.server_name) must be
// NACKed with a message naming the listener and the field, and the previous
// configuration must keep serving: the rejected listener would have sent
// every request to a route table answering 418.
func TestDataplaneNACKsUnimplementedFieldAndKeepsServing(t *testing.T) {
	backend := startHTTPBackend(t, "blue")
	port := freePort(t)
	listenerName := fmt.Sprintf("127.0.0.1:%d", port)

	good := &ir.IR{
		Listeners: []*ir.Listener{{Name: listenerName, Address: "127.0.0.1", Port: uint32(port), Gateways: []string{"default/test"}, HTTP: &ir.HTTPChain{RouteTable: "main"}}},
		RouteTables: []*ir.RouteTable{
			{Name: "main", VirtualHosts: []*ir.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{{
				Name: "to-blue", Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
				Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: "blue", Weight: 1}}},
			}}}}},
			{Name: "teapot", VirtualHosts: []*ir.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{{
				Name: "teapot", Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
				DirectResponse: &ir.DirectResponse{StatusCode: 418},
			}}}}},
		},
		Clusters: []*ir.Cluster{{Name: "blue", Discovery: ir.DiscoveryEDS, Endpoints: []ir.Endpoint{{Address: "127.0.0.1", Port: uint32(backend.port)}}}},
	}
	goodRes, err := xds.Translate(good)
	if err != nil {
		t.Fatal(err)
	}

	// The bad listener: the same socket, pointed at "teapot", plus a field the
	// data plane does not implement.
	bad := proto.Clone(goodRes[resource.ListenerType][0].(*listenerv3.Listener)).(*listenerv3.Listener)
	filter := bad.FilterChains[0].Filters[0]
	hcm := &hcmv3.HttpConnectionManager{}
	if err := filter.GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	hcm.GetRds().RouteConfigName = "teapot"
	hcm.ServerName = "edgeway-test"
	packed, err := anypb.New(hcm)
	if err != nil {
		t.Fatal(err)
	}
	filter.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: packed}
	badRes := map[resource.Type][]cachetypes.Resource{}
	for typ, list := range goodRes {
		badRes[typ] = list
	}
	badRes[resource.ListenerType] = []cachetypes.Resource{bad}

	// A plain go-control-plane server, so the test controls exactly what is sent.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	const node = "nack-test"
	setSnapshot := func(version string, res map[resource.Type][]cachetypes.Resource) {
		t.Helper()
		snap, err := cachev3.NewSnapshot(version, res)
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.SetSnapshot(ctx, node, snap); err != nil {
			t.Fatal(err)
		}
	}
	setSnapshot("1", goodRes)
	rec := &nackRecorder{}
	rec.StreamRequestFunc = func(_ int64, req *discoveryv3.DiscoveryRequest) error {
		if d := req.GetErrorDetail(); d != nil {
			rec.mu.Lock()
			rec.nacks = append(rec.nacks, d.GetMessage())
			rec.mu.Unlock()
		}
		return nil
	}
	grpcServer := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(grpcServer, serverv3.NewServer(ctx, cache, rec))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = grpcServer.Serve(lis) }()
	defer grpcServer.Stop()

	// The data-plane-only binary; readiness_test.go runs `edgeway dataplane`.
	_, _, stopDataplane := startDataplane(t, lis.Addr().String(), node)
	defer stopDataplane()

	c := newClient()
	url := fmt.Sprintf("http://%s/", listenerName)
	eventually(t, 20*time.Second, "the good config served", func() error {
		res, err := do(t, c, "GET", url, "any.test", nil)
		if err != nil {
			return err
		}
		if res.status != 200 || res.backend != "blue" {
			return fmt.Errorf("status %d backend %q", res.status, res.backend)
		}
		return nil
	})

	setSnapshot("2", badRes)
	eventually(t, 10*time.Second, "a NACK naming the field", func() error {
		for _, m := range rec.messages() {
			if strings.Contains(m, listenerName) && strings.Contains(m, "server_name") {
				return nil
			}
		}
		return fmt.Errorf("NACKs so far: %q", rec.messages())
	})
	t.Logf("NACK: %s", rec.messages()[0])
	for i := 0; i < 20; i++ {
		res, err := do(t, c, "GET", url, "any.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.status != 200 || res.backend != "blue" {
			t.Fatalf("after the NACK: status %d backend %q; the previous config must keep serving", res.status, res.backend)
		}
	}
}
