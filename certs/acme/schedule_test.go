package acme

import (
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

func TestBackoffDefaultsDoubleUpToOneHour(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := backoff(nil, i+1, 0); got != w {
			t.Errorf("backoff(defaults, failure %d) = %v, want %v", i+1, got, w)
		}
	}
	// A very long failure streak does not overflow.
	if got := backoff(nil, 500, 0); got != time.Hour {
		t.Errorf("backoff(defaults, failure 500) = %v, want 1h", got)
	}
}

func TestBackoffFromSpecAndJitter(t *testing.T) {
	r := &v1alpha1.ACMERetry{
		InitialBackoff: &metav1.Duration{Duration: time.Second},
		MaxBackoff:     &metav1.Duration{Duration: 5 * time.Second},
	}
	for failures, w := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second} {
		if got := backoff(r, failures, 0); got != w {
			t.Errorf("backoff(1s..5s, failure %d) = %v, want %v", failures, got, w)
		}
		// Jitter takes at most 10% off, never adds.
		if got := backoff(r, failures, 0.999); got > w || got < w*9/10 {
			t.Errorf("backoff(1s..5s, failure %d, max jitter) = %v, want within [%v, %v]", failures, got, w*9/10, w)
		}
	}
	// MaxBackoff below InitialBackoff: the initial one wins.
	low := &v1alpha1.ACMERetry{InitialBackoff: &metav1.Duration{Duration: time.Minute}, MaxBackoff: &metav1.Duration{Duration: time.Second}}
	if got := backoff(low, 3, 0); got != time.Minute {
		t.Errorf("backoff(initial 1m > max 1s) = %v, want 1m", got)
	}
}

func TestRenewalTimes(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour)}
	if got, want := fallbackRenewAt(leaf), nb.Add(60*24*time.Hour); !got.Equal(want) {
		t.Errorf("fallbackRenewAt(90 days) = %v, want %v (2/3 of the lifetime)", got, want)
	}
	// An ARI time inside the last quarter of the lifetime is pulled earlier.
	late := leaf.NotAfter.Add(-time.Hour)
	if got, want := clampRenewAt(leaf, late), leaf.NotAfter.Add(-90*24*time.Hour/4); !got.Equal(want) {
		t.Errorf("clampRenewAt(1h before expiry) = %v, want %v", got, want)
	}
	early := nb.Add(time.Hour)
	if got := clampRenewAt(leaf, early); !got.Equal(early) {
		t.Errorf("clampRenewAt(early) = %v, want it unchanged", got)
	}
	for ra, want := range map[time.Duration]time.Duration{0: 6 * time.Hour, time.Second: time.Hour, 6 * time.Hour: 6 * time.Hour, 72 * time.Hour: 24 * time.Hour} {
		if got := ariPollAfter(ra); got != want {
			t.Errorf("ariPollAfter(%v) = %v, want %v", ra, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120":  2 * time.Minute,
		" 7 ":  7 * time.Second,
		"0":    0,
		"-5":   0,
		"":     0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0, // in the past
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
