package run

import (
	"context"
	"errors"
	"flag"
	"os"
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

	// SIGHUP tries again a configuration refused for a cause outside it (a
	// listener's port another process held, since freed): the server sends
	// a refused version only once per stream, so a new stream asks for it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if len(client.Stats().Rejected) == 0 {
				log.Info("SIGHUP: no refused configuration to try again")
				continue
			}
			log.Info("SIGHUP: asking the xDS server again for the refused configuration")
			client.Resync()
		}
	}()

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
