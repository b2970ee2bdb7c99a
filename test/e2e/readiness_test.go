package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
)

// ackRecorder remembers which (type, version) pairs the data plane ACKed.
type ackRecorder struct {
	serverv3.CallbackFuncs
	mu   sync.Mutex
	acks map[string]bool // "<type>@<version>"
}

func (a *ackRecorder) acked(version string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, typ := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType} {
		if !a.acks[typ+"@"+version] {
			return false
		}
	}
	return true
}

func readyStatus(t *testing.T, admin string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// TestDataplaneReadiness runs the real `edgeway dataplane` against an xDS
// server the test controls. A snapshot whose listener references a route
// configuration that is not published is ACKed for every type, yet /ready
// stays 503 (incomplete); the complete snapshot makes it 200 and serves;
// a later incomplete snapshot leaves it ready, the last good config serving.
func TestDataplaneReadiness(t *testing.T) {
	backend := startHTTPBackend(t, "blue")
	port := freePort(t)
	listenerName := fmt.Sprintf("127.0.0.1:%d", port)
	full, err := xds.Translate(&ir.IR{
		Listeners: []*ir.Listener{{Name: listenerName, Address: "127.0.0.1", Port: uint32(port), Gateways: []string{"default/test"}, HTTP: &ir.HTTPChain{RouteTable: "main"}}},
		RouteTables: []*ir.RouteTable{{Name: "main", VirtualHosts: []*ir.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{{
			Name: "to-blue", Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
			Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: "blue", Weight: 1}}},
		}}}}}},
		Clusters: []*ir.Cluster{{Name: "blue", Discovery: ir.DiscoveryEDS, Endpoints: []ir.Endpoint{{Address: "127.0.0.1", Port: uint32(backend.port)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The listener without its route configuration: every type has a
	// response (RDS an empty one), but the configuration cannot be served.
	incomplete := map[resource.Type][]cachetypes.Resource{}
	for typ, list := range full {
		incomplete[typ] = list
	}
	incomplete[resource.RouteType] = nil

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	const node = "readiness-test"
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
	rec := &ackRecorder{acks: map[string]bool{}}
	rec.StreamRequestFunc = func(_ int64, req *discoveryv3.DiscoveryRequest) error {
		if req.GetErrorDetail() == nil && req.GetVersionInfo() != "" {
			rec.mu.Lock()
			rec.acks[req.GetTypeUrl()+"@"+req.GetVersionInfo()] = true
			rec.mu.Unlock()
		}
		return nil
	}
	setSnapshot("1", incomplete)
	grpcServer := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(grpcServer, serverv3.NewServer(ctx, cache, rec))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = grpcServer.Serve(lis) }()
	defer grpcServer.Stop()

	admin := freeAddr(t)
	cmd := exec.Command(edgewayBin, "dataplane", "--xds-server", lis.Addr().String(), "--node-id", node, "--admin-address", admin, "--access-log", "off")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dataplane logs:\n%s", logs.String())
		}
	}()

	eventually(t, 20*time.Second, "every type of version 1 ACKed", func() error {
		if !rec.acked("1") {
			return fmt.Errorf("ACKs so far: %v", rec.acks)
		}
		return nil
	})
	// An ACK is sent after the data plane handled the response: its state
	// is final for version 1.
	if st, body := readyStatus(t, admin); st != http.StatusServiceUnavailable || !strings.Contains(body, "incomplete") {
		t.Fatalf("/ready with an incomplete configuration: %d %q, want 503 naming it incomplete", st, body)
	}

	setSnapshot("2", full)
	eventually(t, 10*time.Second, "/ready after the complete configuration", func() error {
		if st, body := readyStatus(t, admin); st != http.StatusOK {
			return fmt.Errorf("%d %q", st, body)
		}
		return nil
	})
	url := fmt.Sprintf("http://%s/", listenerName)
	c := newClient()
	if res, err := do(t, c, "GET", url, "any.test", nil); err != nil || res.status != 200 || res.backend != "blue" {
		t.Fatalf("ready but not serving: %+v %v", res, err)
	}

	setSnapshot("3", incomplete)
	eventually(t, 10*time.Second, "every type of version 3 ACKed", func() error {
		if !rec.acked("3") {
			return fmt.Errorf("ACKs so far: %v", rec.acks)
		}
		return nil
	})
	if st, body := readyStatus(t, admin); st != http.StatusOK {
		t.Errorf("/ready after a later incomplete update: %d %q; the last good config serves, readiness stays", st, body)
	}
	if res, err := do(t, c, "GET", url, "any.test", nil); err != nil || res.status != 200 || res.backend != "blue" {
		t.Errorf("last good config after the incomplete update: %+v %v", res, err)
	}
}
