package proxy

import (
	"strings"
	"testing"
	"time"
)

// monoNow carries a monotonic reading that lies between the readings of
// time.Now calls made before and after it, which is what deadlines and
// idle times compare.
func TestMonoNowFollowsTheMonotonicClock(t *testing.T) {
	for range 1000 {
		before := time.Now()
		m := monoNow()
		after := time.Now()
		if !strings.Contains(m.String(), " m=") {
			t.Fatalf("monoNow() = %v: no monotonic reading", m)
		}
		if m.Before(before) || m.After(after) {
			t.Fatalf("monoNow() = %v, outside [%v, %v]", m, before, after)
		}
	}
}
