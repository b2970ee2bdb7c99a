package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
	filesource "github.com/edgeway/edgeway/controller/source/file"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/run"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

type standaloneFlags struct {
	configDir      string
	xdsAddress     string
	adminAddress   string
	controllerName string
	drainTimeout   time.Duration
	bindRetry      time.Duration
	stateDir       string
	log            run.LogFlags
	ops            run.OpsFlags
}

func runStandalone(args []string) error {
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	var f standaloneFlags
	fs.StringVar(&f.configDir, "config-dir", "", "directory of Gateway API / ServiceEntry / Service / EndpointSlice / Secret YAML, watched for changes (required)")
	fs.StringVar(&f.xdsAddress, "xds-address", defaultStandaloneXDS, "address of the in-process xDS server the data plane connects to (port 0 picks a free port)")
	fs.StringVar(&f.adminAddress, "admin-address", defaultStandaloneAdmin, "admin HTTP address: /healthz, /ready, /metrics, /api/status (loopback by default: not for the internet)")
	fs.StringVar(&f.controllerName, "controller-name", snapshot.DefaultControllerName, "GatewayClass spec.controllerName served by this instance")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "directory for what edgeway creates itself: ACME accounts, certificates (certs/<namespace>/<name>/tls.crt, tls.key) and order state; created when a listener first asks for ACME")
	fs.DurationVar(&f.bindRetry, "bind-retry", 10*time.Second, "how often a listener whose port or address the host would not give (held by another process, not on the host) is tried again; SIGHUP tries at once")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 15*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	f.log.Register(fs)
	f.ops.Register(fs, 0)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.configDir == "" {
		return errors.New("standalone: --config-dir is required, e.g. edgeway standalone --config-dir examples/quickstart")
	}
	if fi, err := os.Stat(f.configDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("standalone: --config-dir %q is not a readable directory", f.configDir)
	}
	log, err := f.log.Logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return standalone(ctx, f, log)
}

func standalone(ctx context.Context, f standaloneFlags, log *slog.Logger) error {
	// Control plane: xDS server.
	xdsServer := xds.NewServer(log.With("component", "xds-server"))
	xdsLis, err := net.Listen("tcp", f.xdsAddress)
	if err != nil {
		return fmt.Errorf("xDS server: listen on %s: %w (pick another with --xds-address)", f.xdsAddress, err)
	}
	grpcServer := grpc.NewServer()
	xdsServer.Register(grpcServer)
	go func() { _ = grpcServer.Serve(xdsLis) }()
	defer grpcServer.Stop()

	// Data plane: the proxy, fed by a real xDS stream even in one process.
	ops, err := f.ops.Build()
	if err != nil {
		return err
	}
	defer ops.AccessLog.Close()
	dp := proxy.New(log.With("component", "proxy"), ops.ProxyOptions()...)
	state := &standaloneState{metrics: ops.Metrics.Handler(), ours: gwv1.GatewayController(f.controllerName), xdsServer: xdsServer}
	pipeline := &standaloneTranslation{
		stateDir:   f.stateDir,
		log:        log.With("component", "acme"),
		reg:        ops.Metrics.Registry(),
		ctx:        ctx,
		unbindable: &unbindableSockets{log: log.With("component", "listeners")},
	}
	resync := &staleRefusalResync{published: func() map[string]string { return xdsServer.Versions(run.StandaloneNodeID) }}
	client := xdsclient.New(xdsLis.Addr().String(), run.StandaloneNodeID, dp, log.With("component", "xds-client"),
		append(ops.XDSOptions, xdsclient.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())),
			xdsclient.WithOnResult(func() {
				// A refusal for sockets the host would not give: publish
				// again without them. The report's statuses follow that
				// publication, so nothing shows the Gateways refused.
				if pipeline.unbindable.add(dp.BindFailures()) {
					state.supersede()
					go func() {
						pipeline.republish("a listener that could not bind")
						resync.arm()
					}()
					return
				}
				resync.check()
				// The report's Programmed follows what the data plane
				// accepts or refuses.
				state.refresh(time.Now())
			}))...)
	resync.client = client
	state.client = client
	ops.ExposeXDS(client)
	clientCtx, cancelClient := context.WithCancel(context.Background())
	defer cancelClient()
	go func() { _ = client.Run(clientCtx) }()
	go pipeline.unbindable.run(ctx, f.bindRetry, func() { pipeline.republish("a listener's socket freed") })

	meshIDs := newMeshIdentities(pipeline, log.With("component", "mesh-identity"))
	defer meshIDs.Stop()
	pipeline.publish = func(snap *snapshot.Snapshot) error {
		out, statuses := gatewayapi.Translate(meshIDs.Overlay(snap))
		if err := xdsServer.Update(run.StandaloneNodeID, out); err != nil {
			return fmt.Errorf("publishing configuration: %w", err)
		}
		state.setStatuses(statuses, time.Now())
		return nil
	}
	src := &filesource.Source{
		Dir:            f.configDir,
		ControllerName: f.controllerName,
		Log:            log.With("component", "file-source"),
		OnSnapshot:     pipeline.onFiles,
	}
	state.source = src

	admin, err := startAdmin(f.adminAddress, state, log.With("component", "admin"))
	if err != nil {
		return err
	}
	defer admin.Close()
	// Listeners on these ports could not bind: translation refuses them
	// alone. The bound addresses, so that port 0 reserves the port picked.
	src.ReservedPorts = standaloneReservedPorts(admin.Addr().String(), xdsLis.Addr().String())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			// Sockets that bind now are in the reload's translation.
			pipeline.unbindable.retry()
			src.Reload()
			// A configuration the data plane refused for a cause outside
			// it (a port another process held) is tried again.
			if state.refusal() != "" {
				client.Resync()
			}
		}
	}()

	srcDone := make(chan error, 1)
	go func() {
		srcDone <- src.Run(ctx, func(firstErr error) {
			if firstErr != nil {
				log.Error("the first configuration was refused; fix the files and save: edgeway reloads them automatically", "error", firstErr.Error())
			}
			log.Info("edgeway standalone running", "config-dir", f.configDir, "admin", admin.Addr().String(), "xds", xdsLis.Addr().String())
		})
	}()

	select {
	case <-ctx.Done():
	case err := <-srcDone:
		if err != nil {
			return err
		}
	}
	log.Info("shutting down: draining in-flight requests", "timeout", f.drainTimeout)
	run.DrainSequence(log, state.setDraining, f.ops.DrainDelay)
	drainCtx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer cancel()
	err = dp.Shutdown(drainCtx)
	cancelClient()
	return err
}
