package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/acme"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/source/kube"
)

// acmeFieldOwner is the server-side apply field manager of the Secrets the
// ACME manager writes (certificates, state, accounts).
const acmeFieldOwner = "edgeway-acme"

// acmeEventSource is the reporting controller of ACME events on Gateways
// (`kubectl describe gateway` shows it as "From").
const acmeEventSource = "edgeway-acme"

// acmeFlags configure the ACME manager of `edgeway controller`.
type acmeFlags struct {
	enabled          bool
	selfCheckTimeout time.Duration
}

var acmeF acmeFlags

func init() {
	controllerExtensions = append(controllerExtensions, controllerExtension{register: acmeF.register, setup: acmeF.setup})
}

func (f *acmeFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "acme", true, "obtain and renew the certificates of listeners whose tls.options name an ACMEIssuer (the elected leader orders; every replica serves the challenges)")
	fs.DurationVar(&f.selfCheckTimeout, "acme-self-check-timeout", 0, "how long the ACME manager checks that a Gateway's own address serves a challenge before asking the CA to validate it (0: the manager's default)")
}

func (f *acmeFlags) setup(_ context.Context, c *kubecontroller.Controller, cf *controllerFlags, log *slog.Logger) error {
	if !f.enabled {
		log.Info("--acme=false: listeners that name an ACMEIssuer get no certificate from this controller")
		return nil
	}
	// The manager's collectors are created per run: the run's registry,
	// not controller-runtime's process-wide one (a second run in the same
	// process, as in tests, would collide there).
	_, err := installACME(c, acmeOptions{Registerer: cf.metrics, SelfCheckTimeout: f.selfCheckTimeout, Log: log})
	return err
}

// acmeOptions of installACME.
type acmeOptions struct {
	// Registerer takes the manager's metrics (the controller's /metrics
	// registry; a registry of its own for each replica in a test process).
	Registerer       prometheus.Registerer
	SelfCheckTimeout time.Duration
	Log              *slog.Logger
}

// acmeRunner runs the ACME manager on the elected leader only: a
// controller-runtime Runnable with NeedLeaderElection, so the manager
// starts when this replica wins the Lease and stops (its context ends) when
// it loses it or shuts down. Every replica translates; only the leader
// hands the certificates to the manager, so only one replica ever orders.
type acmeRunner struct {
	m   *acme.Manager
	log *slog.Logger
	// running: Start is between its start and its return (this replica
	// leads and its manager runs).
	running atomic.Bool

	mu      sync.Mutex
	latest  *snapshot.Snapshot // the last translated Snapshot
	changed chan struct{}      // cap 1: latest changed
}

// installACME adds the ACME manager to a controller replica: it subscribes
// to the source's translations and registers the leader-only runner.
func installACME(c *kubecontroller.Controller, o acmeOptions) (*acmeRunner, error) {
	mgr := c.Manager
	// The manager reads the Secrets it wrote a moment ago, so it reads from
	// the API server, not the informer cache (it reads little: one order at
	// a time, on the leader).
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient()})
	if err != nil {
		return nil, fmt.Errorf("ACME: API client: %w", err)
	}
	log := o.Log.With("component", "acme")
	r := &acmeRunner{log: log, changed: make(chan struct{}, 1)}
	events := &gatewayEvents{cache: mgr.GetClient(), recorder: mgr.GetEventRecorder(acmeEventSource), log: log}
	r.m = acme.New(acme.Options{
		Store:            acme.NewKubeStore(direct, acmeFieldOwner),
		Log:              log,
		Registerer:       o.Registerer,
		Events:           events.record,
		SelfCheckTimeout: o.SelfCheckTimeout,
	})
	c.Source.Subscribe(r.translated)
	if err := mgr.Add(r); err != nil {
		return nil, err
	}
	return r, nil
}

// translated is the source's subscriber: it must not block, so it only
// keeps the Snapshot; the runner computes the certificates (on the leader).
func (r *acmeRunner) translated(res *kube.Result) {
	r.mu.Lock()
	r.latest = res.Snapshot
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// NeedLeaderElection: only the leader orders certificates.
func (r *acmeRunner) NeedLeaderElection() bool { return true }

// Start runs the manager until ctx ends (leadership lost or shutdown),
// handing it the certificates of every new translation.
func (r *acmeRunner) Start(ctx context.Context) error {
	r.log.Info("ACME manager starting: this replica is the leader")
	r.running.Store(true)
	defer r.running.Store(false)
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			r.log.Info("ACME manager stopped", "reason", context.Cause(ctx))
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("ACME manager: %w", err)
			}
			return nil
		case err := <-done:
			if err != nil {
				return fmt.Errorf("ACME manager: %w", err)
			}
			return nil
		case <-r.changed:
			r.mu.Lock()
			snap := r.latest
			r.mu.Unlock()
			if snap != nil {
				r.m.Sync(gatewayapi.ACMECertificates(snap))
			}
		}
	}
}

// gatewayEvents turns the manager's events into Kubernetes events
// (events.k8s.io/v1) on each Gateway that wants the certificate.
type gatewayEvents struct {
	cache    client.Reader // the informer cache: the Gateway's uid for `kubectl describe`
	recorder events.EventRecorder
	log      *slog.Logger
}

func (g *gatewayEvents) record(ev acme.Event) {
	typ := corev1.EventTypeNormal
	if ev.Warning {
		typ = corev1.EventTypeWarning
	}
	for _, ref := range ev.Gateways {
		ns, name, ok := strings.Cut(ref, "/")
		if !ok {
			continue
		}
		var gw gwv1.Gateway
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := g.cache.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &gw)
		cancel()
		if err != nil {
			// Deleted meanwhile: nothing to attach the event to.
			g.log.Debug("ACME event for a Gateway not found", "gateway", ref, "reason", ev.Reason, "error", err.Error())
			continue
		}
		g.recorder.Eventf(&gw, nil, typ, ev.Reason, "Certificate", "%s", eventNote(ev))
	}
}

// maxEventNote is the API server's limit on an events.k8s.io/v1 note; a
// longer one is refused, not cut.
const maxEventNote = 1024

// eventNote is "<certificate Secret>: <message>" (a Gateway may have
// several ACME listeners), cut to what the API server accepts.
func eventNote(ev acme.Event) string {
	note := ev.Secret.String() + ": " + ev.Message
	if len(note) <= maxEventNote {
		return note
	}
	cut := maxEventNote - len("…")
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + "…"
}
