package run

import (
	"context"
	"errors"
	"flag"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// StandaloneNodeID is the xDS node id of the data plane in standalone mode
// (`edgeway standalone`): it receives every Gateway's configuration. It is
// the default --node-id of the data plane alone.
const StandaloneNodeID = "edgeway-standalone"

// Dataplane runs the proxy alone, configured by a remote xDS server, until
// SIGINT or SIGTERM, then drains. args are the flags, without the program
// or command name.
func Dataplane(args []string) error {
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
	var lf LogFlags
	lf.Register(fs)
	var of OpsFlags
	of.Register(fs, 5*time.Second)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" {
		return errors.New("dataplane: --xds-server is required")
	}
	log, err := lf.Logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ops, err := of.Build()
	if err != nil {
		return err
	}
	defer ops.AccessLog.Close()
	creds, err := xdsCredentials(tf)
	if err != nil {
		return err
	}
	dp := proxy.New(log.With("component", "proxy"), ops.ProxyOptions()...)
	client := xdsclient.New(*server, *nodeID, dp, log.With("component", "xds-client"), append(ops.XDSOptions, creds)...)
	ops.ExposeXDS(client)
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()
	go func() { _ = client.Run(clientCtx) }()

	adm, err := startAdmin(*adminAddr, client, dp, ops)
	if err != nil {
		return err
	}
	defer adm.Close()

	<-ctx.Done()
	DrainSequence(log, adm.setDraining, of.DrainDelay)
	drainCtx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	return dp.Shutdown(drainCtx)
}
