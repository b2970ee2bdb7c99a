package kube

import (
	"testing"
	"time"
)

// TestBurstNeedsARunOfCloseEvents: events each less than burstGap after
// the one before are a burst only from the burstEvents-th on, and a gap of
// burstGap or more starts over. A single close pair used to be a burst,
// which made a follow-up write wait BurstDebounce.
func TestBurstNeedsARunOfCloseEvents(t *testing.T) {
	s := &Source{dirty: make(chan struct{}, 1)}
	at := time.Now()
	mark := func(after time.Duration) bool {
		at = at.Add(after)
		s.markDirtyAt(at.UnixNano())
		return s.inBurst()
	}
	if mark(0) {
		t.Fatal("the first event is a burst")
	}
	for round, gap := range []time.Duration{time.Millisecond, burstGap - time.Millisecond} {
		for i := 2; i <= burstEvents+2; i++ {
			if got, want := mark(gap), i >= burstEvents; got != want {
				t.Fatalf("round %d, event %d, each %v after the one before: inBurst %v, want %v", round, i, gap, got, want)
			}
		}
		// A gap of burstGap: the run starts over with this event.
		if mark(burstGap) {
			t.Fatalf("round %d: an event %v after a burst is still in it", round, burstGap)
		}
	}
}
