// Command peer-xds serves the xDS configuration of a directory of Gateway
// API YAML and does nothing else: the control plane of the peer benchmark's
// data-plane-only run, where edgeway-dataplane is measured alone, as it
// runs in a Kubernetes Gateway's pods (the controller is another process).
// It loads and translates the directory once, as `edgeway standalone` does,
// and publishes it to the standalone node id the data plane asks for.
//
//	peer-xds -config-dir DIR -xds-address 127.0.0.1:28711
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
)

// nodeID is dataplane/run.StandaloneNodeID, the default --node-id of the
// data plane alone.
const nodeID = "edgeway-standalone"

func main() {
	dir := flag.String("config-dir", "", "directory of Gateway API YAML (required)")
	addr := flag.String("xds-address", "127.0.0.1:18000", "address of the xDS server")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-config-dir is required: the directory of Gateway API YAML to serve")
	}
	snap, err := snapshot.LoadDir(*dir)
	if err != nil {
		log.Fatalf("loading %s: %v", *dir, err)
	}
	snap.ControllerName = snapshot.DefaultControllerName
	out, _ := gatewayapi.Translate(snap)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := xds.NewServer(logger)
	if err := srv.Update(nodeID, out); err != nil {
		log.Fatalf("publishing the configuration of %s: %v", *dir, err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("xDS server: listen on %s: %v", *addr, err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	go func() { log.Fatal(g.Serve(lis)) }()
	fmt.Fprintf(os.Stderr, "peer-xds: serving %s to node %q on %s\n", *dir, nodeID, lis.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	g.Stop()
}
