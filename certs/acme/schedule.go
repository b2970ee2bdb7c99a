package acme

import (
	"crypto/x509"
	"math/rand/v2"
	"time"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

const (
	defaultInitialBackoff = time.Minute
	defaultMaxBackoff     = time.Hour

	// recheckInterval bounds the time between two checks of a
	// certificate, as a safety net for a missed Sync.
	recheckInterval = time.Hour
	// ARI answers are refreshed within these bounds whatever the CA's
	// Retry-After says (RFC 9773 suggests polling a few times a day).
	minARIPoll     = time.Hour
	maxARIPoll     = 24 * time.Hour
	defaultARIPoll = 6 * time.Hour
)

// backoffs returns the issuer's retry bounds, defaults filled in.
func backoffs(r *v1alpha1.ACMERetry) (initial, max time.Duration) {
	initial, max = defaultInitialBackoff, defaultMaxBackoff
	if r != nil {
		if r.InitialBackoff != nil && r.InitialBackoff.Duration > 0 {
			initial = r.InitialBackoff.Duration
		}
		if r.MaxBackoff != nil && r.MaxBackoff.Duration > 0 {
			max = r.MaxBackoff.Duration
		}
	}
	if max < initial {
		max = initial
	}
	return initial, max
}

// backoff is the wait after the failures-th consecutive failure (1-based):
// initial doubling up to max, minus up to 10% jitter so certificates that
// failed together (one CA outage) do not retry in lockstep. jitter is in
// [0, 1).
func backoff(r *v1alpha1.ACMERetry, failures int, jitter float64) time.Duration {
	initial, max := backoffs(r)
	d := initial
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d - time.Duration(float64(d)*0.1*jitter)
}

// randomJitter is the jitter source of backoff.
func randomJitter() float64 { return rand.Float64() }

// fallbackRenewAt is when a certificate is renewed without ARI: at 2/3 of
// its lifetime.
func fallbackRenewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotBefore.Add(life * 2 / 3)
}

// clampRenewAt keeps a renewal time (from ARI) at least a quarter of the
// lifetime before expiry, so a failed renewal still has room for retries.
// A CA's window may span the whole lifetime (Pebble's does for any
// certificate shorter than about three days), and a random pick from it can
// land seconds before expiry: with a tenth as margin, a 40 s certificate was
// renewed 4 s before it expired, and new handshakes failed while the order
// completed on a loaded machine. Let's Encrypt's windows end about a third of
// the lifetime before expiry, so the clamp leaves real CAs' choices alone.
func clampRenewAt(leaf *x509.Certificate, at time.Time) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	latest := leaf.NotAfter.Add(-life / 4)
	if at.After(latest) {
		return latest
	}
	return at
}

// ariPollAfter is when an ARI answer is asked again, from the CA's
// Retry-After (0: none).
func ariPollAfter(retryAfter time.Duration) time.Duration {
	switch {
	case retryAfter <= 0:
		return defaultARIPoll
	case retryAfter < minARIPoll:
		return minARIPoll
	case retryAfter > maxARIPoll:
		return maxARIPoll
	}
	return retryAfter
}

// utc is a time as the state records it: UTC, to the second.
func utc(t time.Time) *time.Time {
	u := t.UTC().Truncate(time.Second)
	return &u
}
