package e2e

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
)

// TestDataplaneSIGHUPRetriesARefusedConfiguration: edgeway-dataplane (the
// Kubernetes data plane) refuses a configuration with a listener on a port
// another process holds, naming it, and keeps serving the one before; the
// controller's xDS server sends a refused version only once per stream.
// Once the port is free, SIGHUP has the data plane ask again, and the
// configuration is served.
func TestDataplaneSIGHUPRetriesARefusedConfiguration(t *testing.T) {
	backend := startHTTPBackend(t, "blue")
	port := freePort(t)
	held, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	config := func(ports ...int) *ir.IR {
		x := &ir.IR{
			RouteTables: []*ir.RouteTable{{Name: "main", VirtualHosts: []*ir.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{{
				Name: "to-blue", Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
				Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: "blue", Weight: 1}}},
			}}}}}},
			Clusters: []*ir.Cluster{{Name: "blue", Discovery: ir.DiscoveryEDS, Endpoints: []ir.Endpoint{{Address: "127.0.0.1", Port: uint32(backend.port)}}}},
		}
		for _, p := range ports {
			x.Listeners = append(x.Listeners, &ir.Listener{Name: fmt.Sprintf("127.0.0.1:%d", p), Address: "127.0.0.1", Port: uint32(p),
				Gateways: []string{"default/test"}, HTTP: &ir.HTTPChain{RouteTable: "main"}})
		}
		return x
	}

	server := xds.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	grpcServer := grpc.NewServer()
	server.Register(grpcServer)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = grpcServer.Serve(lis) }()
	defer grpcServer.Stop()
	const node = "sighup-test"
	if err := server.Update(node, config(port)); err != nil {
		t.Fatal(err)
	}

	cmd, logs, stopDataplane := startDataplane(t, lis.Addr().String(), node)
	defer stopDataplane()
	c := newClient()
	served := func(p int) error {
		res, err := do(t, c, "GET", fmt.Sprintf("http://127.0.0.1:%d/", p), "any.test", nil)
		if err != nil {
			return err
		}
		if res.status != 200 || res.backend != "blue" {
			return fmt.Errorf("status %d backend %q", res.status, res.backend)
		}
		return nil
	}
	eventually(t, 20*time.Second, "the first configuration served", func() error { return served(port) })

	if err := server.Update(node, config(port, heldPort)); err != nil {
		t.Fatal(err)
	}
	refusal := fmt.Sprintf("cannot bind 127.0.0.1:%d", heldPort)
	eventually(t, 10*time.Second, "the refusal naming the held port", func() error {
		if !strings.Contains(logs.String(), refusal) {
			return fmt.Errorf("no %q in the logs yet", refusal)
		}
		return nil
	})
	if err := served(port); err != nil {
		t.Fatalf("the configuration before the refusal: %v", err)
	}

	held.Close()
	// Nothing asks again by itself: the refused version is not sent again.
	time.Sleep(500 * time.Millisecond)
	if err := served(heldPort); err == nil {
		t.Fatal("the refused listener is served before SIGHUP")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the listener served after SIGHUP", func() error { return served(heldPort) })
	if err := served(port); err != nil {
		t.Errorf("the first listener after SIGHUP: %v", err)
	}
}
