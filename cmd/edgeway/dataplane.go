package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// runDataplane runs the proxy alone, configured by a remote xDS server.
func runDataplane(args []string) error {
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	server := fs.String("xds-server", "", "address of the xDS server, host:port (required)")
	nodeID := fs.String("node-id", StandaloneNodeID, "xDS node id: which configuration to receive")
	adminAddr := fs.String("admin-address", "127.0.0.1:19001", "admin HTTP address: /healthz, /ready")
	drain := fs.Duration("drain-timeout", 15*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	var lf logFlags
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" {
		return errors.New("dataplane: --xds-server is required")
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	dp := proxy.New(log.With("component", "proxy"))
	client := xdsclient.New(*server, *nodeID, dp, log.With("component", "xds-client"),
		xdsclient.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()
	go func() { _ = client.Run(clientCtx) }()

	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		st := client.Stats()
		if draining.Load() || st.Accepted == 0 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	lis, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		return fmt.Errorf("admin server: listen on %s: %w", *adminAddr, err)
	}
	adminSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = adminSrv.Serve(lis) }()
	defer adminSrv.Close()

	<-ctx.Done()
	draining.Store(true)
	drainCtx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	return dp.Shutdown(drainCtx)
}
