package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestControllerGCDefaults: without GOGC and GOMEMLIMIT in the
// environment the controller runs at GOGC=200 with a soft memory limit of
// 3/4 of the container's; either variable set leaves its setting alone;
// without a container limit there is no memory limit.
func TestControllerGCDefaults(t *testing.T) {
	before := debug.SetGCPercent(100)
	beforeLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(beforeLimit)
	})
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	got := applyControllerGC(env(nil), 512<<20)
	if got.gcPercent != 200 || gcPercent() != 200 {
		t.Errorf("no GOGC: GOGC %d (reported %d), want 200", gcPercent(), got.gcPercent)
	}
	if want := int64(384 << 20); got.memLimit != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("no GOMEMLIMIT, a 512 MiB container: memory limit %d (reported %d), want %d", debug.SetMemoryLimit(-1), got.memLimit, want)
	}

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	got = applyControllerGC(env(map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}), 512<<20)
	if got != (gcSettings{}) || gcPercent() != 100 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("GOGC and GOMEMLIMIT set: the controller changed its GC settings (%+v)", got)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	if got = applyControllerGC(env(nil), 0); got.memLimit != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("no container limit: memory limit set to %d", got.memLimit)
	}
}

// gcPercent reads GOGC (SetGCPercent sets it too; -1 turns the GC off for
// the moment between the two calls).
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}
