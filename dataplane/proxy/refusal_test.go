package proxy

import (
	"testing"
	"time"
)

// TestRefusalLogIsBounded: a burst of refusals logs refusalLogsPerSecond
// lines a second; the first line of the next second says how many were
// left out.
func TestRefusalLogIsBounded(t *testing.T) {
	var l refusalLog
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	logged := 0
	for i := range 1000 {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Millisecond / 2)); ok {
			logged++
		}
	}
	if logged != refusalLogsPerSecond {
		t.Errorf("1000 refusals in half a second logged %d lines, want %d", logged, refusalLogsPerSecond)
	}
	ok, left := l.allow(t0.Add(time.Second))
	if !ok || left != 1000-refusalLogsPerSecond {
		t.Errorf("the next second's first refusal: logged %v, notLogged %d, want true, %d", ok, left, 1000-refusalLogsPerSecond)
	}
	if ok, left := l.allow(t0.Add(time.Second + time.Millisecond)); !ok || left != 0 {
		t.Errorf("after the count was reported: logged %v, notLogged %d, want true, 0", ok, left)
	}
}
