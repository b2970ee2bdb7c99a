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
	adminAddr := fs.String("admin-address", "127.0.0.1:19001", "admin HTTP address: /healthz, /ready, /metrics (loopback by default: not for the internet)")
	drain := fs.Duration("drain-timeout", 15*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	var tf xdsclient.TLSFiles
	fs.StringVar(&tf.CertFile, "xds-cert-file", "", "PEM client certificate for mutual TLS to the xDS server (with --xds-key-file and --xds-ca-file; reread when it changes)")
	fs.StringVar(&tf.KeyFile, "xds-key-file", "", "PEM private key of --xds-cert-file")
	fs.StringVar(&tf.CAFile, "xds-ca-file", "", "PEM CA bundle that verifies the xDS server's certificate")
	fs.StringVar(&tf.ServerName, "xds-server-name", "", "name to verify in the xDS server's certificate (default: the host of --xds-server)")
	var lf logFlags
	lf.register(fs)
	var of opsFlags
	of.register(fs, 5*time.Second)
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

	ops, err := of.build()
	if err != nil {
		return err
	}
	defer ops.accessLog.Close()
	creds, err := xdsCredentials(tf)
	if err != nil {
		return err
	}
	dp := proxy.New(log.With("component", "proxy"), ops.proxyOptions()...)
	client := xdsclient.New(*server, *nodeID, dp, log.With("component", "xds-client"), append(ops.xdsOpts, creds)...)
	ops.exposeXDS(client)
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()
	go func() { _ = client.Run(clientCtx) }()

	var draining atomic.Bool
	var ready readiness
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
			return
		}
		if ok, why := ready.check(client.Stats(), dp.Serving()); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", ops.metrics.Handler())
	lis, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		return fmt.Errorf("admin server: listen on %s: %w", *adminAddr, err)
	}
	adminSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = adminSrv.Serve(lis) }()
	defer adminSrv.Close()

	<-ctx.Done()
	drainSequence(log, func() { draining.Store(true) }, of.drainDelay)
	drainCtx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	return dp.Shutdown(drainCtx)
}

// xdsCredentials is mutual TLS from the files when they are given (all
// three or none), plaintext otherwise (loopback and tests only).
func xdsCredentials(tf xdsclient.TLSFiles) (xdsclient.Option, error) {
	n := 0
	for _, f := range []string{tf.CertFile, tf.KeyFile, tf.CAFile} {
		if f != "" {
			n++
		}
	}
	switch n {
	case 0:
		return xdsclient.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())), nil
	case 3:
		opt, err := xdsclient.WithTLSFiles(tf)
		if err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		return opt, nil
	default:
		return nil, errors.New("dataplane: --xds-cert-file, --xds-key-file and --xds-ca-file go together: give all three or none")
	}
}
