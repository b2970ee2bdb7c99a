package mesh

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestNoWakeAtAPastRenewAtWhileRenewing: once a certificate from Istio's CA
// is due, the renewal request in flight or backing off decides the next
// wake-up; a past RenewAt would fire the timer at once, again and again,
// for as long as the CA does not answer (seen: ~60,000 wake-ups a second,
// each one a translation).
func TestNoWakeAtAPastRenewAtWhileRenewing(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	due := &entry{w: &Workload{RenewAt: now.Add(-time.Hour), Cert: &x509.Certificate{NotAfter: now.Add(7 * time.Hour)}}}
	fresh := &entry{w: &Workload{RenewAt: now.Add(3 * time.Hour), Cert: &x509.Certificate{NotAfter: now.Add(9 * time.Hour)}}}
	cases := []struct {
		name    string
		issued  map[string]*entry
		pending map[string]*request
		want    time.Time
	}{
		{"due, no request yet: wake now to start one", map[string]*entry{"a": due}, nil, due.w.RenewAt},
		{"due, request in flight: its end re-arms; only expiry is left", map[string]*entry{"a": due}, map[string]*request{"a": {inFlight: true}}, due.w.Cert.NotAfter},
		{"due, backing off: the retry time", map[string]*entry{"a": due}, map[string]*request{"a": {retryAt: now.Add(time.Minute)}}, now.Add(time.Minute)},
		{"due, retry time passed: wake now", map[string]*entry{"a": due}, map[string]*request{"a": {retryAt: now.Add(-time.Second)}}, due.w.RenewAt},
		{"another Gateway's renewal comes first", map[string]*entry{"a": due, "b": fresh}, map[string]*request{"a": {inFlight: true}}, fresh.w.RenewAt},
	}
	for _, c := range cases {
		m := &Manager{issued: c.issued, pending: c.pending}
		if m.pending == nil {
			m.pending = map[string]*request{}
		}
		if got := m.nextWake(now); !got.Equal(c.want) {
			t.Errorf("%s: next wake-up %v, want %v", c.name, got, c.want)
		}
	}
}
