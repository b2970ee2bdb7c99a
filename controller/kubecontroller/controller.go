// Package kubecontroller assembles edgeway's Kubernetes controller: a
// controller-runtime manager with leader election, the Kubernetes source
// (every replica translates and serves xDS), the xDS server, the
// leader-only status writer and, when wired, the per-Gateway
// infrastructure provisioner. cmd/edgeway `controller` and the integration
// tests run exactly this.
package kubecontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/source/kube"
	"github.com/edgeway/edgeway/controller/status"
	"github.com/edgeway/edgeway/controller/xds"
)

// Provisioner is the per-Gateway infrastructure (controller/infra): it
// registers its own controllers with the manager (controller-runtime
// controllers run on the leader only by default, which is what
// infrastructure needs) and tells the status writer each Gateway's
// addresses.
type Provisioner interface {
	SetupWithManager(mgr manager.Manager) error
	status.Infrastructure
}

// Config of a Controller.
type Config struct {
	RestConfig     *rest.Config
	ControllerName string // "" means snapshot.DefaultControllerName

	// XDSListener is where xDS is served (every replica).
	XDSListener net.Listener
	// XDSServerOptions are gRPC options of the xDS server (mTLS and node
	// identity: xds.SecureServerOptions). None: plaintext.
	XDSServerOptions []grpc.ServerOption

	LeaderElection          bool
	LeaderElectionNamespace string
	// Identity names this replica in its xDS ACK report (status.SharedAcks,
	// enabled with leader election); default $POD_NAME, else the host name.
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod: 0 for the defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// Provisioner, if set, provisions each Gateway's data plane and reports
	// its addresses.
	Provisioner Provisioner
	// Hooks run after the manager, source, xDS server and writer exist and
	// before anything starts: they may register more runnables with
	// c.Manager, set c.XDSServerOptions or c.Provisioner.
	Hooks []func(c *Controller) error

	// Debounce/MaxDelay of the source (0: defaults).
	Debounce, MaxDelay time.Duration
	Log                *slog.Logger
}

// Controller is one replica.
type Controller struct {
	Manager manager.Manager
	Source  *kube.Source
	Writer  *status.Writer
	XDS     *xds.Server
	// SharedAcks publishes and reads the replicas' ACK reports (nil
	// without leader election).
	SharedAcks *status.SharedAcks

	XDSServerOptions []grpc.ServerOption
	Provisioner      Provisioner

	cfg Config
	log *slog.Logger
}

// New builds a Controller; nothing runs until Run.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.RestConfig == nil || cfg.XDSListener == nil {
		return nil, errors.New("kubecontroller: RestConfig and XDSListener are required")
	}
	if cfg.ControllerName == "" {
		cfg.ControllerName = snapshot.DefaultControllerName
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	mgr, err := kube.NewManager(cfg.RestConfig, kube.ManagerOptions{
		ControllerName:          cfg.ControllerName,
		LeaderElection:          cfg.LeaderElection,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		LeaseDuration:           cfg.LeaseDuration,
		RenewDeadline:           cfg.RenewDeadline,
		RetryPeriod:             cfg.RetryPeriod,
		Log:                     cfg.Log.With("component", "controller-runtime"),
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	c := &Controller{
		Manager:          mgr,
		XDS:              xds.NewServer(cfg.Log.With("component", "xds-server")),
		XDSServerOptions: cfg.XDSServerOptions,
		Provisioner:      cfg.Provisioner,
		cfg:              cfg,
		log:              cfg.Log,
	}
	c.Source, err = kube.New(ctx, mgr, kube.Options{
		ControllerName: cfg.ControllerName,
		Publisher:      c.XDS,
		Debounce:       cfg.Debounce,
		MaxDelay:       cfg.MaxDelay,
		Log:            cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	for _, h := range cfg.Hooks {
		if err := h(c); err != nil {
			return nil, err
		}
	}
	var infra status.Infrastructure
	if c.Provisioner != nil {
		if err := c.Provisioner.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("infrastructure provisioner: %w", err)
		}
		infra = c.Provisioner
	}
	var acks status.Acks = status.LocalAcks{Server: c.XDS}
	if cfg.LeaderElection && cfg.LeaderElectionNamespace != "" {
		// Several replicas: the leader also needs the ACKs of data planes
		// connected to the others.
		c.SharedAcks, err = status.NewSharedAcks(ctx, status.SharedAcksOptions{
			Local:     c.XDS,
			Client:    mgr.GetClient(),
			Cache:     mgr.GetCache(),
			Namespace: cfg.LeaderElectionNamespace,
			Group:     kube.LeaseName(cfg.ControllerName),
			Identity:  identity(cfg.Identity),
			OnChange:  func() { c.Writer.Trigger() },
			Log:       cfg.Log,
		})
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(c.SharedAcks); err != nil {
			return nil, err
		}
		acks = c.SharedAcks
	}
	c.Writer = status.NewWriter(status.Options{
		ControllerName: cfg.ControllerName,
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Acks:           acks,
		Infrastructure: infra,
		Log:            cfg.Log,
		Busy:           c.Source.Busy,
	})
	if err := mgr.Add(c.Writer); err != nil {
		return nil, err
	}
	c.Source.Subscribe(func(r *kube.Result) {
		c.Writer.Update(&status.Input{Snapshot: r.Snapshot, Statuses: r.Statuses, Versions: r.Versions, PublishErrors: r.PublishErrors})
	})
	// Programmed follows the data planes' ACKs.
	c.XDS.OnAcked(func(string) {
		c.Writer.Trigger()
		if c.SharedAcks != nil {
			c.SharedAcks.Changed()
		}
	})
	return c, nil
}

// identity is this replica's name: the configured one, $POD_NAME, or the
// host name with the process id (several replicas in one test process).
func identity(configured string) string {
	if configured != "" {
		return configured
	}
	if p := os.Getenv("POD_NAME"); p != "" {
		return p
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%d", strings.ToLower(h), os.Getpid(), replicas.Add(1))
}

var replicas atomic.Int64

// Run serves xDS and runs the manager until ctx ends. On the way out the
// leader releases its Lease, so another replica takes over at once.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	xdsDone := make(chan error, 1)
	go func() { xdsDone <- c.XDS.Serve(ctx, c.cfg.XDSListener, c.XDSServerOptions...) }()
	err := c.Manager.Start(ctx)
	cancel()
	if xerr := <-xdsDone; xerr != nil && err == nil {
		err = fmt.Errorf("xDS server: %w", xerr)
	}
	return err
}

// Ready reports whether this replica serves a complete configuration.
func (c *Controller) Ready() bool { return c.Source.Ready() }
