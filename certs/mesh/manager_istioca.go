package mesh

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"time"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// The Manager's requests to Istio's CA: asynchronous (the translation does
// not wait for the network), one in flight per Gateway, retried with
// exponential backoff; the certificate in use stays until a new one
// arrives, and each arrival calls OnRenewal to re-publish.
const (
	istioCATimeout    = 30 * time.Second
	istioCAMinBackoff = 2 * time.Second
	istioCAMaxBackoff = 5 * time.Minute
)

// request is the state of a Gateway's requests to Istio's CA.
type request struct {
	source   [32]byte // what the last request was for
	inFlight bool
	retryAt  time.Time // after a failure
	backoff  time.Duration
}

// RootCertKey is the key of the root certificate in Istio's
// istio-ca-root-cert ConfigMap.
const RootCertKey = "root-cert.pem"

// fromIstioCA returns the Gateway's current certificate (nil: none yet)
// and starts a request when it is missing, changed or due. m.mu is held.
func (m *Manager) fromIstioCA(snap *snapshot.Snapshot, gk string, cfg *Config, id *url.URL, now time.Time) *entry {
	ic := cfg.IstioCA
	cm := findConfigMap(snap, ic.RootCert.Namespace, ic.RootCert.Name)
	tok := findSecret(snap, ic.TokenSecret.Namespace, ic.TokenSecret.Name)
	e := m.issued[gk]
	if cm == nil || cm.Data[RootCertKey] == "" || tok == nil || len(SecretData(tok)[KeyToken]) == 0 {
		return e // the translation says what is missing
	}
	ca := &IstioCA{Address: ic.Address, RootPEM: []byte(cm.Data[RootCertKey]), Token: string(SecretData(tok)[KeyToken]), ClusterID: ic.ClusterID}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d", ca.Address, ca.RootPEM, ca.Token, ca.ClusterID, id, cfg.Validity)
	var src [32]byte
	copy(src[:], h.Sum(nil))
	if e == nil || e.source != src || !now.Before(e.w.RenewAt) {
		m.request(gk, src, ca, id, cfg.Validity, now)
	}
	if e != nil && !now.Before(e.w.Cert.NotAfter) {
		return nil // expired: nothing to present
	}
	return e
}

// request starts a CreateCertificate call unless one is in flight or the
// last one for the same source failed less than its backoff ago.
func (m *Manager) request(gk string, src [32]byte, ca *IstioCA, id *url.URL, validity time.Duration, now time.Time) {
	p := m.pending[gk]
	if p == nil {
		p = &request{}
		m.pending[gk] = p
	}
	if p.inFlight || (p.source == src && now.Before(p.retryAt)) {
		return
	}
	if p.source != src {
		p.backoff = 0
	}
	p.source, p.inFlight = src, true
	go func() {
		ctx, cancel := context.WithTimeout(m.ctx, istioCATimeout)
		w, err := ca.Issue(ctx, id, m.opt.Now(), validity)
		cancel()
		m.mu.Lock()
		p.inFlight = false
		if err != nil {
			p.backoff = min(max(2*p.backoff, istioCAMinBackoff), istioCAMaxBackoff)
			p.retryAt = m.opt.Now().Add(p.backoff)
			if m.failing[gk] != err.Error() {
				m.failing[gk] = err.Error()
				m.opt.Log.Error("no mesh workload certificate from Istio's CA", "gateway", gk, "address", ca.Address, "identity", id.String(), "error", err.Error(), "retryIn", p.backoff.String())
			}
		} else {
			p.backoff, p.retryAt = 0, time.Time{}
			delete(m.failing, gk)
			m.issued[gk] = &entry{w: w, source: src}
			m.opt.Log.Info("mesh workload certificate issued by Istio's CA", "gateway", gk, "address", ca.Address, "identity", id.String(),
				"notAfter", w.Cert.NotAfter.UTC().Format(time.RFC3339), "renewAt", w.RenewAt.UTC().Format(time.RFC3339))
		}
		m.arm(m.opt.Now())
		m.mu.Unlock()
		if err == nil && m.ctx.Err() == nil && m.opt.OnRenewal != nil {
			m.opt.OnRenewal()
		}
	}()
}
