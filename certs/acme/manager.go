package acme

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Options configure a Manager.
type Options struct {
	// Store is where Secrets are read and written (required).
	Store Store
	// Log; nil: slog.Default().
	Log *slog.Logger
	// Registerer for the metrics; nil: none registered.
	Registerer prometheus.Registerer
	// Events, optional: the Kubernetes wiring turns these into Gateway
	// events. Called from the manager's workers; must not block long.
	Events func(Event)
	// Now; nil: time.Now.
	Now func() time.Time
	// SelfCheckTimeout bounds the wait for the Gateways to serve an
	// HTTP-01 or TLS-ALPN-01 challenge before the CA is asked; 0: 30s.
	SelfCheckTimeout time.Duration
	// AllowExecDNSProvider allows lego's "exec" DNS provider, which runs a
	// program named in the issuer's credentials Secret inside this
	// process. Off by default: in a cluster anyone who may create an
	// ACMEIssuer and a Secret would run commands in the controller.
	AllowExecDNSProvider bool
}

// Event is something a user wants to see on the Gateways of a certificate.
type Event struct {
	Secret   types.NamespacedName
	Gateways []string // "<ns>/<name>"
	Warning  bool
	Reason   string // Issued, Renewed, or the failure's state reason (ChallengeFailed, RateLimited, ...)
	Message  string
}

// maxWorkers is how many certificates are checked or ordered at once.
const maxWorkers = 4

// Manager obtains and renews the certificates Sync asks for.
type Manager struct {
	o                Options
	log              *slog.Logger
	now              func() time.Time
	selfCheckTimeout time.Duration
	metrics          *metrics

	mu     sync.Mutex
	certs  map[types.NamespacedName]*entry
	active int
	wake   chan struct{}

	accountsMu   sync.Mutex
	accountLocks map[types.NamespacedName]chan struct{}
	ariKey       crypto.PrivateKey // throwaway key of ARI-only clients
}

// entry is the manager's view of one wanted certificate.
type entry struct {
	cert        snapshot.ACMECertificate
	fingerprint string
	// due: when the next check runs.
	due time.Time
	// running: a check or order is in flight; cancel stops it; runFP is
	// the fingerprint it works with; dirty: a Sync came meanwhile.
	running bool
	cancel  context.CancelFunc
	runFP   string
	dirty   bool
	// failedFP: the fingerprint of the inputs of the last failure seen
	// by this process ("" none): a failure is retried before its
	// NextAttempt only when the inputs changed.
	failedFP string
	// nextARI: when the CA's renewal information is asked again.
	nextARI time.Time
}

// New returns a Manager; Run starts it.
func New(o Options) *Manager {
	m := &Manager{
		o:                o,
		log:              o.Log,
		now:              o.Now,
		selfCheckTimeout: o.SelfCheckTimeout,
		metrics:          newMetrics(o.Registerer),
		certs:            map[types.NamespacedName]*entry{},
		wake:             make(chan struct{}, 1),
		accountLocks:     map[types.NamespacedName]chan struct{}{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("component", "acme")
	if m.now == nil {
		m.now = time.Now
	}
	if m.selfCheckTimeout <= 0 {
		m.selfCheckTimeout = 30 * time.Second
	}
	routeLegoLog()
	return m
}

// Sync replaces the set of wanted certificates. It does not block: every
// certificate is checked again soon (that is cheap: two Store reads, and a
// write only when something changed). A certificate that is no longer
// wanted is dropped, and its order, if any, cancelled; its Secrets stay.
func (m *Manager) Sync(certs []snapshot.ACMECertificate) {
	m.mu.Lock()
	now := m.now()
	wanted := make(map[types.NamespacedName]bool, len(certs))
	for i := range certs {
		c := copyCertificate(&certs[i])
		wanted[c.Secret] = true
		fp := fingerprint(&c)
		e, ok := m.certs[c.Secret]
		if !ok {
			e = &entry{}
			m.certs[c.Secret] = e
		} else if issuerName(&e.cert) != issuerName(&c) {
			m.metrics.forget(c.Secret, issuerName(&e.cert))
		}
		if e.running && e.runFP != fp {
			e.cancel()
		}
		e.cert, e.fingerprint = c, fp
		e.due = now
		e.dirty = true
	}
	for k, e := range m.certs {
		if !wanted[k] {
			if e.running {
				e.cancel()
			}
			m.metrics.forget(k, issuerName(&e.cert))
			delete(m.certs, k)
		}
	}
	m.mu.Unlock()
	m.signal()
}

func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run works on the wanted certificates until ctx ends, then cancels what
// is in flight, waits for it and returns nil. Run once per Manager.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := m.startDue(ctx, &wg)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !next.IsZero() {
			timer.Reset(max(next.Sub(m.now()), 0))
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			for _, e := range m.certs {
				if e.running {
					e.cancel()
				}
			}
			m.mu.Unlock()
			wg.Wait()
			return nil
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// startDue starts a worker for every due certificate (up to maxWorkers in
// flight, earliest first) and returns when the next one not started is due
// (zero: none).
func (m *Manager) startDue(ctx context.Context, wg *sync.WaitGroup) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	keys := slices.Collect(maps.Keys(m.certs))
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		return m.certs[a].due.Compare(m.certs[b].due)
	})
	var next time.Time
	for _, k := range keys {
		e := m.certs[k]
		if e.running {
			continue
		}
		if e.due.After(now) {
			if next.IsZero() || e.due.Before(next) {
				next = e.due
			}
			continue
		}
		if m.active >= maxWorkers {
			continue // a finishing worker wakes the loop
		}
		m.start(ctx, wg, k, e)
	}
	return next
}

// start runs one check of e in a worker. m.mu is held.
func (m *Manager) start(ctx context.Context, wg *sync.WaitGroup, k types.NamespacedName, e *entry) {
	cctx, cancel := context.WithCancel(ctx)
	e.running, e.cancel, e.runFP, e.dirty = true, cancel, e.fingerprint, false
	m.active++
	c := e.cert
	in := checkInput{fingerprint: e.fingerprint, failedFP: e.failedFP, nextARI: e.nextARI}
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := m.check(cctx, &c, in)
		cancel()
		m.mu.Lock()
		m.active--
		if cur, ok := m.certs[k]; ok && cur == e {
			e.running = false
			e.due, e.failedFP, e.nextARI = res.next, res.failedFP, res.nextARI
			if e.dirty {
				// A Sync came during the check (maybe cancelling it):
				// look again with what it brought.
				e.due = m.now()
			}
		}
		m.mu.Unlock()
		m.signal()
	}()
}

// addresses are the latest challenge addresses of a certificate (they may
// change during an order).
func (m *Manager) addresses(k types.NamespacedName, kind v1alpha1.ACMEChallengeType) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.certs[k]
	if !ok {
		return nil
	}
	if kind == v1alpha1.ACMEChallengeTLSALPN01 {
		return e.cert.TLSALPN01Addresses
	}
	return e.cert.HTTP01Addresses
}

func (m *Manager) emit(c *snapshot.ACMECertificate, warning bool, reason, message string) {
	if m.o.Events == nil {
		return
	}
	m.o.Events(Event{Secret: c.Secret, Gateways: slices.Clone(c.Gateways), Warning: warning, Reason: reason, Message: message})
}

func issuerName(c *snapshot.ACMECertificate) string {
	if c.Issuer == nil {
		return ""
	}
	return c.Issuer.Namespace + "/" + c.Issuer.Name
}

// copyCertificate deep-copies what the caller might modify later.
func copyCertificate(c *snapshot.ACMECertificate) snapshot.ACMECertificate {
	out := *c
	if c.Issuer != nil {
		out.Issuer = c.Issuer.DeepCopy()
	}
	out.Domains = slices.Clone(c.Domains)
	out.Gateways = slices.Clone(c.Gateways)
	out.HTTP01Addresses = slices.Clone(c.HTTP01Addresses)
	out.TLSALPN01Addresses = slices.Clone(c.TLSALPN01Addresses)
	out.CABundle = slices.Clone(c.CABundle)
	out.DNSCredentials = maps.Clone(c.DNSCredentials)
	return out
}

// fingerprint identifies the inputs of an order: a change cancels an order
// in flight and lifts a failure's backoff. The challenge addresses and the
// Gateways are not inputs (they change without changing what is ordered).
func fingerprint(c *snapshot.ACMECertificate) string {
	in := struct {
		Issuer         string
		Spec           *v1alpha1.ACMEIssuerSpec
		Domains        []string
		EABKey         string
		CABundle       []byte
		DNSCredentials map[string]string
	}{issuerName(c), nil, c.Domains, c.EABKey, c.CABundle, c.DNSCredentials}
	if c.Issuer != nil {
		in.Spec = &c.Issuer.Spec
	}
	raw, _ := json.Marshal(in) // maps marshal sorted: deterministic
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
