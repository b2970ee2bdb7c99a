package mesh

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// Options of a Manager.
type Options struct {
	// DefaultServiceAccount is the identity's service account when
	// spec.mesh.serviceAccount is unset (controller/infra.ResourceName).
	DefaultServiceAccount func(gateway string) string
	// OnRenewal is called, in a goroutine of its own, when a workload
	// certificate is due: the caller lays the Manager over its last
	// Snapshot again (Overlay issues the new certificate) and publishes.
	OnRenewal func()
	Log       *slog.Logger
	Now       func() time.Time // tests; time.Now by default
}

// Manager issues and renews the Gateways' workload certificates.
type Manager struct {
	opt Options

	mu     sync.Mutex
	issued map[string]*entry // by Gateway "<ns>/<name>"
	timer  *time.Timer
	// failing is the last error logged per Gateway: Overlay runs on every
	// translation, the log says it once per change.
	failing map[string]string
	// pending are the requests to Istio's CA, by Gateway (istioca.go).
	pending map[string]*request
	ctx     context.Context // ends with Stop: in-flight requests give up
	cancel  context.CancelFunc
}

type entry struct {
	w      *Workload
	source [32]byte // what it was issued from: CA data, identity, validity
}

// NewManager returns a Manager; it issues nothing until Overlay.
func NewManager(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DefaultServiceAccount == nil {
		o.DefaultServiceAccount = func(gw string) string { return gw }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opt: o, issued: map[string]*entry{}, failing: map[string]string{}, pending: map[string]*request{}, ctx: ctx, cancel: cancel}
}

// Overlay returns snap with the identity Secret of every Gateway of ours
// whose mesh configuration is usable (others are left to the translation
// to report), issuing what is missing, changed or due, and arms the
// renewal timer for the earliest next renewal. snap is not modified.
func (m *Manager) Overlay(snap *snapshot.Snapshot) *snapshot.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opt.Now()
	ours := ourClasses(snap)
	var add []*corev1.Secret
	seen, wanted := map[string]bool{}, map[string]bool{}
	for _, gw := range snap.Gateways {
		if gw == nil || !ours[string(gw.Spec.GatewayClassName)] {
			continue
		}
		cfg, err := GatewayConfig(snap, gw)
		if cfg == nil || err != nil {
			continue
		}
		gk := gw.Namespace + "/" + gw.Name
		wanted[gk] = true
		sa := cfg.ServiceAccount
		if sa == "" {
			sa = m.opt.DefaultServiceAccount(gw.Name)
		}
		id := SPIFFEID(cfg.TrustDomain, gw.Namespace, sa)
		if cfg.IstioCA != nil {
			// Asynchronous: a network call must not hold up translation.
			if e := m.fromIstioCA(snap, gk, cfg, id, now); e != nil {
				seen[gk] = true
				add = append(add, identitySecret(gw, e.w))
			}
			continue
		}
		sec := findSecret(snap, cfg.CASecret.Namespace, cfg.CASecret.Name)
		if sec == nil {
			continue
		}
		src := sourceHash(SecretData(sec), id.String(), cfg.Validity)
		e := m.issued[gk]
		if e == nil || e.source != src || !now.Before(e.w.RenewAt) {
			ca, err := ParseCACerts(SecretData(sec))
			if err == nil {
				err = ca.ValidAt(now)
			}
			var w *Workload
			if err == nil {
				w, err = ca.Issue(id, now, cfg.Validity)
			}
			if err != nil {
				// The translation reports a broken Secret on the Gateway;
				// an expired CA only shows here.
				if m.failing[gk] != err.Error() {
					m.failing[gk] = err.Error()
					m.opt.Log.Error("no mesh workload certificate", "gateway", gk, "secret", cfg.CASecret.String(), "identity", id.String(), "error", err.Error())
				}
				continue
			}
			delete(m.failing, gk)
			e = &entry{w: w, source: src}
			m.issued[gk] = e
			m.opt.Log.Info("mesh workload certificate issued", "gateway", gk, "identity", id.String(),
				"notAfter", w.Cert.NotAfter.UTC().Format(time.RFC3339), "renewAt", w.RenewAt.UTC().Format(time.RFC3339))
		}
		seen[gk] = true
		add = append(add, identitySecret(gw, e.w))
	}
	for gk := range m.issued {
		if !seen[gk] {
			delete(m.issued, gk)
		}
	}
	for gk := range m.failing {
		if !wanted[gk] {
			delete(m.failing, gk)
		}
	}
	for gk, p := range m.pending {
		if !wanted[gk] && !p.inFlight {
			delete(m.pending, gk)
		}
	}
	m.arm(now)
	if len(add) == 0 {
		return snap
	}
	out := *snap
	out.Secrets = overlay(snap.Secrets, add)
	out.Sort()
	return &out
}

// arm schedules OnRenewal at the next wake-up. m.mu is held.
func (m *Manager) arm(now time.Time) {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	next := m.nextWake(now)
	if next.IsZero() || m.opt.OnRenewal == nil {
		return
	}
	m.timer = time.AfterFunc(max(next.Sub(now), 0), m.opt.OnRenewal)
}

// nextWake is the earliest RenewAt or retry time (zero: none). A
// certificate whose RenewAt has passed while its Istio CA request is in
// flight or backing off wakes nobody at RenewAt: the request's end re-arms
// the timer and its retryAt is counted, so only its expiry remains (a past
// RenewAt would fire the timer at once, again and again, for as long as
// the CA is down). m.mu is held.
func (m *Manager) nextWake(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, p := range m.pending {
		if !p.inFlight {
			earliest(p.retryAt)
		}
	}
	for gk, e := range m.issued {
		at := e.w.RenewAt
		if p := m.pending[gk]; p != nil && !at.After(now) && (p.inFlight || p.retryAt.After(now)) {
			if at = e.w.Cert.NotAfter; !at.After(now) {
				continue
			}
		}
		earliest(at)
	}
	return next
}

// Stop cancels the renewal timer and the requests in flight.
func (m *Manager) Stop() {
	m.cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
}

func identitySecret(gw *gwv1.Gateway, w *Workload) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: SecretName(gw.Name),
			Annotations: map[string]string{AnnotationSPIFFEID: w.ID.String()}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: w.ChainPEM, corev1.TLSPrivateKeyKey: w.KeyPEM, "ca.crt": w.RootPEM},
	}
}

func sourceHash(data map[string][]byte, id string, validity time.Duration) [32]byte {
	h := sha256.New()
	for _, k := range []string{KeyCACert, KeyCAKey, KeyRootCert, KeyCertChain} {
		fmt.Fprintf(h, "%s:%d:", k, len(data[k]))
		h.Write(data[k])
	}
	fmt.Fprintf(h, "%s:%d", id, validity)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func ourClasses(snap *snapshot.Snapshot) map[string]bool {
	name := snap.ControllerName
	if name == "" {
		name = snapshot.DefaultControllerName
	}
	out := map[string]bool{}
	for _, gc := range snap.GatewayClasses {
		if gc != nil && string(gc.Spec.ControllerName) == name {
			out[gc.Name] = true
		}
	}
	return out
}

func findConfigMap(snap *snapshot.Snapshot, ns, name string) *corev1.ConfigMap {
	for _, c := range snap.ConfigMaps {
		if c != nil && c.Namespace == ns && c.Name == name {
			return c
		}
	}
	return nil
}

func findSecret(snap *snapshot.Snapshot, ns, name string) *corev1.Secret {
	for _, s := range snap.Secrets {
		if s != nil && s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// overlay is base with add, a Secret of add replacing one of the same
// namespace and name.
func overlay(base, add []*corev1.Secret) []*corev1.Secret {
	replaced := map[string]bool{}
	for _, s := range add {
		replaced[s.Namespace+"/"+s.Name] = true
	}
	out := make([]*corev1.Secret, 0, len(base)+len(add))
	for _, s := range base {
		if s == nil || !replaced[s.Namespace+"/"+s.Name] {
			out = append(out, s)
		}
	}
	out = append(out, add...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// SecretData is a Secret's data with stringData merged in (file mode
// Secrets may be written with stringData).
func SecretData(s *corev1.Secret) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	for k, v := range s.Data {
		out[k] = v
	}
	return out
}
