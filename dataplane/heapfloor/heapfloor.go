// Package heapfloor keeps the Go collector from running more often than the
// data plane's memory warrants: it gives the heap a floor of headroom above
// what is live.
//
// Why: with GOGC at its default (100) the runtime collects when the heap
// reaches twice its live part, and at 4 MiB when that is less. The data
// plane's live heap is a few MiB (its configuration, its connections'
// state), and every proxied request allocates one or two KiB that die with
// it, so under load the collector ran 15-20 times a second: 4.5-5% of the
// process's CPU on HTTP/2 (the peer harness's h2 scenario, 10 s at 35-53k
// requests a second, bench/peers/README.md). A cycle's cost is mostly its
// marking, of the goroutines' stacks and of the live heap, and is the same
// however much garbage there is: fewer cycles are that much less CPU.
//
// What: after every collection the next goal is set to the live heap plus
// at least the headroom, through GOGC (debug.SetGCPercent), which keeps its
// proportion above that: a heap of 40 MiB still collects at 80. The GC
// then runs about headroom/4 MiB times less often while the heap is small.
//
// What it costs: up to headroom more resident memory under load (16 MiB:
// the data plane with 1000 routes stays under its 64 MiB target). GOGC or
// GOMEMLIMIT set in the environment is the operator's choice and wins:
// nothing is changed then.
package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Headroom is the floor the data plane keeps: the heap may grow by this
// much above what is live before the collector runs.
const Headroom = 16 << 20

// runtimeMinimum is the runtime's smallest heap goal at GOGC=100; it
// scales with GOGC (heapMinimum in the runtime's GC controller).
const runtimeMinimum = 4 << 20

// PercentFor is the GOGC whose goal for a live heap of live bytes is live
// plus headroom, never below the default 100, and whose minimum goal
// (runtimeMinimum scaled by GOGC) does not exceed that sum either.
func PercentFor(live, headroom uint64) int {
	live = max(live, 1)
	p := headroom * 100 / live
	if m := (live + headroom) * 100 / runtimeMinimum; p > m {
		p = m
	}
	return int(max(p, 100))
}

// Keep installs the floor (Headroom) for the life of the process, unless the
// environment sets GOGC or GOMEMLIMIT (it reports whether it did). It
// sets GOGC from the current live heap at once, and again after every
// collection.
func Keep() bool {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return false
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return false
	}
	k := &keeper{percent: 100}
	k.sample[0].Name = "/gc/heap/live:bytes"
	k.sample[1].Name = "/gc/cycles/total:gc-cycles"
	k.afterGC()
	return true
}

type keeper struct {
	percent int               // the GOGC set last
	sample  [2]metrics.Sample // the live heap, the collections
}

// adjustedAfter is the number of collections completed when afterGC last
// ran, for the tests to wait on the adjustment after a collection.
var adjustedAfter atomic.Uint64

// sentinel is an object nothing refers to: its cleanup runs after the
// collection that found it unreachable. Its pointer field (always nil)
// keeps it out of the tiny allocator, which packs small pointer-free
// objects together and frees them only together.
type sentinel struct {
	p *keeper
	_ [8]byte
}

// afterGC sets GOGC for the live heap the last collection measured, and
// arms itself for the next one. It runs in the runtime's cleanup goroutine.
func (k *keeper) afterGC() {
	metrics.Read(k.sample[:])
	// (Value.Uint64 panics on a metric the runtime does not have: the
	// kinds are checked, here in the cleanup goroutine above all.)
	if k.sample[1].Value.Kind() == metrics.KindUint64 {
		defer adjustedAfter.Store(k.sample[1].Value.Uint64())
	}
	if k.sample[0].Value.Kind() == metrics.KindUint64 {
		p := PercentFor(k.sample[0].Value.Uint64(), Headroom)
		// Small changes are left alone: the live heap moves a little
		// with every cycle, and the goal needs no precision.
		if d := p - k.percent; d > k.percent/8 || -d > k.percent/8 {
			debug.SetGCPercent(p)
			k.percent = p
		}
	}
	s := &sentinel{}
	runtime.AddCleanup(s, (*keeper).afterGC, k)
}
