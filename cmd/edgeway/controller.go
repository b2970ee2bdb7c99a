package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/dataplane/run"
)

type controllerFlags struct {
	kubeconfig              string
	controllerName          string
	xdsAddress              string
	adminAddress            string
	leaderElect             bool
	leaderElectionNamespace string
	kubeAPIQPS              float64
	kubeAPIBurst            int
	log                     run.LogFlags

	// metrics is this run's own registry, for collectors that are created
	// per run (the ACME manager's); /metrics serves it beside
	// controller-runtime's process-wide registry. Set by controller.
	metrics *prometheus.Registry
}

// controllerExtension plugs a part of the controller that lives elsewhere
// (the infrastructure provisioner and xDS mTLS of controller/infra and
// controller/ca) into `edgeway controller` without editing this file: a
// file of this package appends one in its init. register adds flags;
// setup runs as a kubecontroller hook (it may set c.Provisioner and
// c.XDSServerOptions, or add runnables to c.Manager).
type controllerExtension struct {
	register func(fs *flag.FlagSet)
	setup    func(ctx context.Context, c *kubecontroller.Controller, f *controllerFlags, log *slog.Logger) error
}

var controllerExtensions []controllerExtension

func runController(args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	var f controllerFlags
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)")
	fs.StringVar(&f.controllerName, "controller-name", snapshot.DefaultControllerName, "GatewayClass spec.controllerName served by this controller")
	fs.StringVar(&f.xdsAddress, "xds-address", ":18000", "address of the xDS server the data planes connect to (every replica serves it)")
	fs.StringVar(&f.adminAddress, "admin-address", "127.0.0.1:19000", "admin HTTP address: /healthz, /ready, /metrics")
	fs.BoolVar(&f.leaderElect, "leader-elect", true, "elect one replica to write status and provision infrastructure (every replica serves xDS)")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: $POD_NAMESPACE, or the in-cluster namespace)")
	// client-go's default (5/s, burst 10) makes the status of 5000 new
	// routes take 17 minutes to write; serving is not affected, status is.
	fs.Float64Var(&f.kubeAPIQPS, "kube-api-qps", 50, "sustained requests per second to the Kubernetes API server (status writes, provisioning)")
	fs.IntVar(&f.kubeAPIBurst, "kube-api-burst", 100, "burst of requests to the Kubernetes API server above --kube-api-qps")
	f.log.Register(fs)
	for _, e := range controllerExtensions {
		if e.register != nil {
			e.register(fs)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := f.log.Logger()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return controller(ctx, &f, log)
}

func controller(ctx context.Context, f *controllerFlags, log *slog.Logger) error {
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(f.kubeAPIQPS), f.kubeAPIBurst
	ns := f.leaderElectionNamespace
	if f.leaderElect && ns == "" {
		if ns, err = podNamespace(); err != nil {
			return err
		}
	}
	f.metrics = prometheus.NewRegistry()
	lis, err := net.Listen("tcp", f.xdsAddress)
	if err != nil {
		return fmt.Errorf("xDS server: listen on %s: %w (pick another with --xds-address)", f.xdsAddress, err)
	}
	defer lis.Close()
	var hooks []func(*kubecontroller.Controller) error
	for _, e := range controllerExtensions {
		if e.setup != nil {
			setup := e.setup
			hooks = append(hooks, func(c *kubecontroller.Controller) error { return setup(ctx, c, f, log) })
		}
	}
	c, err := kubecontroller.New(ctx, kubecontroller.Config{
		RestConfig:              cfg,
		ControllerName:          f.controllerName,
		XDSListener:             lis,
		LeaderElection:          f.leaderElect,
		LeaderElectionNamespace: ns,
		Hooks:                   hooks,
		Log:                     log,
	})
	if err != nil {
		return err
	}
	admin, err := startControllerAdmin(f.adminAddress, c, prometheus.Gatherers{crmetrics.Registry, f.metrics}, log)
	if err != nil {
		return err
	}
	defer admin.Close()
	log.Info("edgeway controller starting", "version", versionString(), "controllerName", f.controllerName,
		"xds", lis.Addr().String(), "admin", admin.Addr, "leaderElection", f.leaderElect, "leaseNamespace", ns)
	return c.Run(ctx)
}

// restConfig loads --kubeconfig, else $KUBECONFIG or ~/.kube/config, else
// the in-cluster service account.
func restConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w (pass --kubeconfig, or run in a cluster)", err)
	}
	cfg.UserAgent = "edgeway-controller"
	return cfg, nil
}

const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func podNamespace() (string, error) {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("leader election needs a namespace for its Lease: pass --leader-election-namespace (or set POD_NAMESPACE, or --leader-elect=false)")
}

type controllerAdmin struct {
	Addr string
	srv  *http.Server
}

func (a *controllerAdmin) Close() error { return a.srv.Close() }

// startControllerAdmin serves /healthz (the process runs), /ready (the
// cache synced and the first translation is published: this replica's xDS
// is complete) and /metrics (controller-runtime's registry: the source's
// edgeway_controller_* metrics, workqueues, client and leader election;
// and the run's own: edgeway_acme_*).
func startControllerAdmin(addr string, c *kubecontroller.Controller, metrics prometheus.Gatherer, log *slog.Logger) (*controllerAdmin, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w (pick another with --admin-address)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Ready() {
			http.Error(w, "not ready: waiting for the informer cache and the first translation", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "error", err)
		}
	}()
	return &controllerAdmin{Addr: lis.Addr().String(), srv: srv}, nil
}
