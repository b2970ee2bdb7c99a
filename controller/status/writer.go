package status

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Input is one translation's output, as the Kubernetes source publishes it.
type Input struct {
	// Snapshot is what was translated: the objects whose status may need
	// our stale entries removed are found here.
	Snapshot *snapshot.Snapshot
	Statuses *gatewayapi.Statuses
	// Versions and PublishErrors per xDS node "<ns>/<name>" (see
	// kube.Result).
	Versions      map[string]map[string]string
	PublishErrors map[string]error
}

// Options configure a Writer.
type Options struct {
	// ControllerName is ours: route parent and policy ancestor entries with
	// another controllerName are never touched.
	ControllerName string
	// Client reads from the informer cache and writes to the API server;
	// APIReader reads from the API server (after a conflict, the cache may
	// still be behind).
	Client    client.Client
	APIReader client.Reader
	Acks      Acks
	// Infrastructure, if set, provides Gateway addresses and problems.
	Infrastructure Infrastructure
	// Debounce coalesces triggers (new translations, ACKs) into one pass
	// (default 50ms).
	Debounce time.Duration
	Log      *slog.Logger
	// Now is the clock of lastTransitionTime (default time.Now).
	Now func() time.Time
	// Busy, if set, reports that a translation runs or a change waits for
	// one; a pass waits for it before it starts and before each write, at
	// most MaxYield in all (default 500ms; yield.go says why).
	Busy     func() bool
	MaxYield time.Duration
}

// Writer is the leader-only status writer, a manager Runnable.
type Writer struct {
	opts    Options
	ours    gwv1.GatewayController
	log     *slog.Logger
	trigger chan struct{}

	mu     sync.Mutex
	latest *Input

	// routesInLine: the routes the last pass left in line, for the next
	// (routememo.go). Only the pass goroutine uses it.
	routesInLine map[routeKey]routeInLine
	// routeVersions and routesDone are a pass's scratch maps, kept so
	// that the next pass reuses their buckets. Only the pass goroutine
	// uses them.
	routeVersions map[routeKey]string
	routesDone    map[routeKey]struct{}
	// translatedInLine is the Input whose route, policy and ServiceEntry
	// statuses the last pass wrote without error (pass.go).
	translatedInLine *Input
	// yieldLeft is what the current pass may still wait for translations
	// (yield.go). Only the pass goroutine uses it.
	yieldLeft time.Duration

	writes, passes, conflicts atomic.Uint64
	leading                   atomic.Bool
}

// NewWriter returns a Writer; add it to the manager (it needs leader
// election) and feed it with Update.
func NewWriter(o Options) *Writer {
	if o.ControllerName == "" {
		o.ControllerName = snapshot.DefaultControllerName
	}
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxYield <= 0 {
		o.MaxYield = defaultMaxYield
	}
	return &Writer{opts: o, ours: gwv1.GatewayController(o.ControllerName), log: o.Log.With("component", "status-writer"), trigger: make(chan struct{}, 1)}
}

// NeedLeaderElection: only the leader writes status.
func (w *Writer) NeedLeaderElection() bool { return true }

// Update hands the Writer a new translation. Safe from anywhere; never blocks.
func (w *Writer) Update(in *Input) {
	w.mu.Lock()
	w.latest = in
	w.mu.Unlock()
	w.Trigger()
}

// Trigger asks for a status pass over the latest Input (the data plane
// ACKed something, the infrastructure changed).
func (w *Writer) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// Writes counts status writes; Passes counts passes; Conflicts counts
// writes retried after a conflict. Leading reports whether Start runs.
func (w *Writer) Writes() uint64    { return w.writes.Load() }
func (w *Writer) Passes() uint64    { return w.passes.Load() }
func (w *Writer) Conflicts() uint64 { return w.conflicts.Load() }
func (w *Writer) Leading() bool     { return w.leading.Load() }

// Start writes statuses until ctx ends (the manager starts it once this
// replica is elected).
func (w *Writer) Start(ctx context.Context) error {
	w.leading.Store(true)
	defer w.leading.Store(false)
	w.log.Info("leading: writing status")
	w.Trigger()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.trigger:
		}
		select { // coalesce a burst of triggers
		case <-ctx.Done():
			return nil
		case <-time.After(w.opts.Debounce):
		}
		select {
		case <-w.trigger:
		default:
		}
		w.yieldLeft = w.opts.MaxYield
		w.yield(ctx)
		w.mu.Lock()
		in := w.latest // after the wait: the translation it waited for
		w.mu.Unlock()
		if in == nil {
			continue
		}
		if err := w.pass(ctx, in); err != nil && ctx.Err() == nil {
			w.log.Error("status pass failed; retrying in 1s", "error", err)
			time.AfterFunc(time.Second, w.Trigger)
		}
	}
}

// now is the lastTransitionTime of a changed condition: whole seconds, as
// the API server stores it, so that a re-read compares equal.
func (w *Writer) now() metav1.Time { return metav1.NewTime(w.opts.Now()).Rfc3339Copy() }
