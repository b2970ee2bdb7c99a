package kube

import (
	"testing"
	"time"
)

// TestBurstNeedsARunOfCloseEvents: events close together (well within
// burstGap) are a burst only from the burstEvents-th on, and a pause of
// burstGap ends it. A close pair used to be a burst, which made a
// follow-up write wait BurstDebounce.
func TestBurstNeedsARunOfCloseEvents(t *testing.T) {
	s := &Source{dirty: make(chan struct{}, 1)}
	for round := range 2 {
		for i := 1; i <= burstEvents+2; i++ {
			s.MarkDirty()
			if got, want := s.inBurst(), i >= burstEvents; got != want {
				t.Fatalf("round %d, event %d of a close run: inBurst %v, want %v", round, i, got, want)
			}
		}
		// A quiet spell longer than burstGap: the next event starts over.
		time.Sleep(burstGap + 10*time.Millisecond)
	}
}
