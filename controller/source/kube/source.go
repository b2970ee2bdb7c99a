package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Publisher is where the per-Gateway IR goes: the xDS server
// (*xds.Server), keyed by node id "<ns>/<name>".
type Publisher interface {
	Update(nodeID string, x *ir.IR) error
	Remove(nodeID string)
	Versions(nodeID string) map[string]string
}

// Options configure a Source.
type Options struct {
	// ControllerName selects our GatewayClasses; "" means
	// snapshot.DefaultControllerName.
	ControllerName string
	Publisher      Publisher
	// An event that finds the loop idle is translated at once, unless it
	// is part of a burst (burstEvents events in a row, each less than
	// burstGap after the one before): a wait would add to every single
	// change, and to the follow-up write that comes right after one was
	// served. Events that come while a translation runs are translated
	// together after it, once no event came for Debounce (default 10ms).
	// In a burst the loop waits for BurstDebounce of quiet instead
	// (default 50ms), so that a burst of writes costs few translations.
	// MaxDelay bounds the wait under a continuous stream of events
	// (default 250ms).
	Debounce, BurstDebounce, MaxDelay time.Duration
	// DiscoveryInterval is how often kinds whose CRD is missing are looked
	// for again (default 30s).
	DiscoveryInterval time.Duration
	Log               *slog.Logger
}

// Result is one translation: what was published and the statuses to write.
type Result struct {
	// Sequence counts translations of this Source, from 1.
	Sequence uint64
	// Snapshot is read-only: its objects unchanged since an earlier build
	// are that build's objects (copies.go), shared by every Result since;
	// a write into one would reach them all.
	Snapshot *snapshot.Snapshot
	Statuses *gatewayapi.Statuses
	// Nodes maps the node id of every Gateway of our classes to the IR
	// published for it (empty when it has no servable listener).
	Nodes map[string]*ir.IR
	// Versions are the xDS versions published per node, by type URL.
	Versions map[string]map[string]string
	// PublishErrors: nodes whose IR the xDS server refused (the previous
	// config stays in force there).
	PublishErrors map[string]error
}

// publishedIR is the IR last handed to the Publisher for a node.
type publishedIR struct {
	ir  *ir.IR
	err error
}

// Source turns the cluster into published xDS and statuses. It is a
// manager Runnable that runs on every replica (NeedLeaderElection false).
type Source struct {
	opts  Options
	mgr   manager.Manager
	log   *slog.Logger
	kinds kinds

	dirty   chan struct{}
	started atomic.Bool
	ready   atomic.Bool

	refsMu sync.RWMutex
	refs   references

	mu          sync.Mutex
	latest      *Result
	subscribers []func(*Result)
	reserved    []snapshot.ReservedPort // ReservePorts
	published   map[string]publishedIR  // by node id; only the translate loop uses it
	// translator keeps what a translation can reuse in the next (the
	// compiled rules of unchanged HTTPRoutes); only the translate loop uses it.
	translator gatewayapi.Translator
	// copies are the deep copies of cached objects the last build handed
	// out, reused for unchanged objects (copies.go); only build uses them.
	copies snapshotCopies

	translations, events atomic.Uint64
	// lastMark (UnixNano) is the time of the last MarkDirty; closeRun
	// counts the MarkDirty calls in a row, up to the last, that each came
	// within burstGap of the one before (inBurst).
	lastMark atomic.Int64
	closeRun atomic.Int32
	// firstDirty (UnixNano, 0: none) is the first MarkDirty since the
	// last translation started: the wait metric's start.
	firstDirty atomic.Int64
	// translating is set while a translation runs (Busy).
	translating atomic.Bool
	missing     []string

	// overlay, if set, is applied to each built Snapshot (overlay.go).
	overlay func(*snapshot.Snapshot) *snapshot.Snapshot
}

// New registers the Source's watches with mgr (before mgr.Start) and adds
// it to mgr as a Runnable.
func New(ctx context.Context, mgr manager.Manager, opts Options) (*Source, error) {
	if opts.Publisher == nil {
		return nil, errors.New("kube source: no Publisher")
	}
	if opts.ControllerName == "" {
		opts.ControllerName = snapshot.DefaultControllerName
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 10 * time.Millisecond
	}
	if opts.BurstDebounce <= 0 {
		opts.BurstDebounce = max(50*time.Millisecond, opts.Debounce)
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 250 * time.Millisecond
	}
	if opts.DiscoveryInterval <= 0 {
		opts.DiscoveryInterval = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Source{
		opts:      opts,
		mgr:       mgr,
		log:       opts.Log.With("component", "kube-source"),
		kinds:     kinds{stores: map[string]toolscache.Indexer{}},
		dirty:     make(chan struct{}, 1),
		refs:      newReferences(),
		published: map[string]publishedIR{},
	}
	missing, err := s.watch(ctx)
	if err != nil {
		return nil, err
	}
	s.missing = missing
	if err := mgr.Add(s); err != nil {
		return nil, err
	}
	return s, nil
}

// NeedLeaderElection: every replica translates and serves xDS.
func (s *Source) NeedLeaderElection() bool { return false }

// A burst is burstEvents events in a row, each less than burstGap after
// the one before; from then on the translation waits for BurstDebounce of
// quiet instead of Debounce. Writes of a burst (an apply of a directory,
// a GitOps sync) arrive a few ms apart, 20 ms on a loaded machine. Two or
// three close events are not a burst: a follow-up write often comes a few
// ms after the one before was served (an edit and its fix, a route and its
// Service, a script that waits for each change), and making it wait 50 ms
// was the whole slowest tenth of bench-scale's propagation at every size.
// The first events of a real burst cost a translation each, at most
// burstEvents-1 of them, before it coalesces.
const (
	burstGap    = 30 * time.Millisecond
	burstEvents = 4
)

// MarkDirty asks for a new translation (debounced). Safe from anywhere.
func (s *Source) MarkDirty() { s.markDirtyAt(time.Now().UnixNano()) }

// markDirtyAt is MarkDirty at a given time (UnixNano), for tests of the
// burst rule that must not depend on the scheduler.
func (s *Source) markDirtyAt(now int64) {
	if now-s.lastMark.Swap(now) < int64(burstGap) {
		s.closeRun.Add(1)
	} else {
		s.closeRun.Store(0)
	}
	s.firstDirty.CompareAndSwap(0, now)
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// ReservePorts adds ports the data planes listen on beside the Gateways'
// listeners (the provisioner's admin port): translations from then on
// refuse listeners on them (Snapshot.ReservedPorts). Call it before the
// Source runs, as a kubecontroller hook does, so that no translation
// goes without them.
func (s *Source) ReservePorts(ports ...snapshot.ReservedPort) {
	s.mu.Lock()
	s.reserved = append(s.reserved, ports...)
	s.mu.Unlock()
}

// reservedPorts is a copy of what ReservePorts added, for one Snapshot.
func (s *Source) reservedPorts() []snapshot.ReservedPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reserved)
}

// Subscribe calls fn with every new Result (and at once with the latest, if
// any), on the Source's goroutine: fn must not block.
func (s *Source) Subscribe(fn func(*Result)) {
	s.mu.Lock()
	s.subscribers = append(s.subscribers, fn)
	latest := s.latest
	s.mu.Unlock()
	if latest != nil {
		fn(latest)
	}
}

// Latest returns the last Result (nil before the first translation).
func (s *Source) Latest() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// Translations counts translations; Events counts the events that marked
// the world dirty (tests and metrics compare the two).
func (s *Source) Translations() uint64 { return s.translations.Load() }
func (s *Source) Events() uint64       { return s.events.Load() }

// Busy reports whether a translation runs or a change waits for one: the
// status writer holds its API calls back meanwhile (controller/status
// yield.go), so that a change is served sooner.
func (s *Source) Busy() bool { return s.translating.Load() || s.firstDirty.Load() != 0 }

// Ready reports whether the cache synced and the first translation was
// published: before that a data plane would be served nothing.
func (s *Source) Ready() bool { return s.ready.Load() }

// Start waits for the cache, then translates after every burst of events
// until ctx ends.
func (s *Source) Start(ctx context.Context) error {
	if !s.mgr.GetCache().WaitForCacheSync(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("kube source: cache did not sync")
	}
	s.started.Store(true)
	go s.discoverLoop(ctx, s.missing, s.opts.DiscoveryInterval)
	// The first translation runs as soon as the cache synced: it holds
	// the whole state, however many events its sync made.
	s.MarkDirty()
	<-s.dirty
	settle := false
	for {
		if settle && !s.settle(ctx) {
			return nil
		}
		// Set before the pending change is taken, so that Busy never
		// sees neither.
		s.translating.Store(true)
		err := s.translate(ctx, s.takeFirstDirty())
		s.translating.Store(false)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("translation failed; retrying in 1s", "error", err)
			time.AfterFunc(time.Second, s.MarkDirty)
		}
		select {
		case <-s.dirty:
			// Events came during the translation: more may be on their
			// way (a burst), so they wait for quiet and go together.
			settle = true
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		}
		// The loop was idle: an event goes at once (leading edge), and
		// so do the first of a burst, whose rest mostly comes during
		// that translation. Only an event well into a burst waits.
		settle = s.inBurst()
	}
}

// settle waits until no event came for the quiet period, or MaxDelay
// passed since the first one: a burst of events costs one translation, and
// a steady stream of events still gets translated every MaxDelay.
func (s *Source) settle(ctx context.Context) bool {
	deadline := time.Now().Add(s.opts.MaxDelay)
	quiet := time.NewTimer(s.quietPeriod())
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.dirty:
			wait := min(s.quietPeriod(), time.Until(deadline))
			if wait <= 0 {
				return true
			}
			quiet.Reset(wait)
		case <-quiet.C:
			return true
		}
	}
}

// quietPeriod is Debounce, and BurstDebounce in a burst.
func (s *Source) quietPeriod() time.Duration {
	if s.inBurst() {
		return s.opts.BurstDebounce
	}
	return s.opts.Debounce
}

// inBurst: the last burstEvents events came each within burstGap of the
// one before.
func (s *Source) inBurst() bool { return s.closeRun.Load() >= burstEvents-1 }

// takeFirstDirty returns the time of the first MarkDirty since the last
// call (zero if none) and starts over: events from now on are the next
// translation's.
func (s *Source) takeFirstDirty() time.Time {
	if ns := s.firstDirty.Swap(0); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (s *Source) setReferences(r references) {
	s.refsMu.Lock()
	s.refs = r
	s.refsMu.Unlock()
}

// referenced reports whether ns/name is in the set pick selects from the
// references of the last build.
func (s *Source) referenced(pick func(references) map[string]bool, ns, name string) bool {
	s.refsMu.RLock()
	defer s.refsMu.RUnlock()
	return pick(s.refs)[ns+"/"+name]
}

// translate builds a Snapshot, translates it, publishes every Gateway's IR
// and removes the nodes of Gateways that are gone. firstEvent is when the
// first event it includes marked the state dirty (for the wait metric).
func (s *Source) translate(ctx context.Context, firstEvent time.Time) error {
	t := passTimes{firstEvent: firstEvent, start: time.Now()}
	snap, err := s.build()
	if err != nil {
		return err
	}
	if s.overlay != nil {
		snap = s.overlay(snap)
	}
	t.built = time.Now()
	out, statuses := s.translator.Translate(snap)
	parts := ir.SplitByGateway(out)
	t.translated = time.Now()
	res := &Result{
		Snapshot:      snap,
		Statuses:      statuses,
		Nodes:         map[string]*ir.IR{},
		Versions:      map[string]map[string]string{},
		PublishErrors: map[string]error{},
	}
	for _, g := range statuses.Gateways {
		node := g.Namespace + "/" + g.Name
		x := parts[node]
		if x == nil {
			x = &ir.IR{} // no servable listener: the data plane must drop what it had
		}
		res.Nodes[node] = x
		if prev, ok := s.published[node]; ok && prev.err == nil && ir.Equal(prev.ir, x) {
			// Unchanged (most Gateways, most of the time): the xDS
			// translation, validation and hashing would yield the same versions.
			res.Versions[node] = s.opts.Publisher.Versions(node)
			continue
		}
		err := s.opts.Publisher.Update(node, x)
		if err != nil {
			res.PublishErrors[node] = err
			s.log.Error("publishing a Gateway's config", "node", node, "error", err)
		}
		s.published[node] = publishedIR{ir: x, err: err}
		res.Versions[node] = s.opts.Publisher.Versions(node)
	}
	s.mu.Lock()
	for node := range s.published {
		if _, ok := res.Nodes[node]; !ok {
			s.opts.Publisher.Remove(node)
			delete(s.published, node)
		}
	}
	res.Sequence = s.translations.Add(1)
	s.latest = res
	subs := append([]func(*Result){}, s.subscribers...)
	s.mu.Unlock()
	s.ready.Store(true)
	t.published = time.Now()
	observeTranslation(t, len(res.Nodes), len(res.PublishErrors))
	s.log.Debug("translated", "sequence", res.Sequence, "gateways", len(res.Nodes), "took", t.published.Sub(t.start))
	for _, fn := range subs {
		fn(res)
	}
	return nil
}

// String names the source in logs.
func (s *Source) String() string { return fmt.Sprintf("kube source (%s)", s.opts.ControllerName) }
