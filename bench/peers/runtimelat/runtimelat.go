// Package runtimelat measures the Go runtime's share of a proxy's tail
// latency over a window: how long goroutines waited runnable before they
// got the CPU, and how often the garbage collector ran, what it paused and
// what CPU it took. The profiling build of the peer benchmark serves it
// (bench/peers/pprof) and the benchmark's profiling pass records it next to
// the CPU profile: a request's p99 well above its p50 with a runnable-wait
// p99 of the same order says the requests queued for the one core, not in
// the kernel or the backend.
package runtimelat

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"runtime/metrics"
	"strconv"
	"time"
)

// Distribution is one latency histogram of the window, in milliseconds.
// Each quantile is the upper bound of the runtime's histogram bucket that
// holds it (buckets grow by powers of two in the runtime's histograms, so
// a quantile may be up to twice the true value).
type Distribution struct {
	Samples uint64  `json:"samples"`
	P50ms   float64 `json:"p50_ms"`
	P90ms   float64 `json:"p90_ms"`
	P99ms   float64 `json:"p99_ms"`
	P999ms  float64 `json:"p999_ms"`
}

// Report is one window.
type Report struct {
	Seconds float64 `json:"seconds"`
	// RunnableWait is /sched/latencies:seconds: the time goroutines spent
	// runnable before running (the runtime samples a share of them).
	RunnableWait Distribution `json:"runnable_wait"`
	// GCPauses is /sched/pauses/total/gc:seconds: stop-the-world pauses.
	GCPauses Distribution `json:"gc_pauses"`
	GCCycles uint64       `json:"gc_cycles"`
	// GCCPUShare is the garbage collector's share of the process's CPU
	// time (the runtime's estimate, /cpu/classes/gc/total over
	// /cpu/classes/total minus idle), 0 without a cycle, -1 when unknown.
	GCCPUShare float64 `json:"gc_cpu_share"`
}

const (
	schedLatency = "/sched/latencies:seconds"
	gcPauses     = "/sched/pauses/total/gc:seconds"
	gcCycles     = "/gc/cycles/total:gc-cycles"
	gcCPU        = "/cpu/classes/gc/total:cpu-seconds"
	totalCPU     = "/cpu/classes/total:cpu-seconds"
	idleCPU      = "/cpu/classes/idle:cpu-seconds"
)

func read() []metrics.Sample {
	s := []metrics.Sample{{Name: schedLatency}, {Name: gcPauses}, {Name: gcCycles}, {Name: gcCPU}, {Name: totalCPU}, {Name: idleCPU}}
	metrics.Read(s)
	return s
}

// Measure reads the runtime's metrics, waits d (or until ctx ends) and
// reports the difference.
func Measure(ctx context.Context, d time.Duration) Report {
	before, start := read(), time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return between(before, read(), time.Since(start))
}

func between(a, b []metrics.Sample, elapsed time.Duration) Report {
	r := Report{Seconds: elapsed.Seconds(), GCCPUShare: -1}
	r.RunnableWait = distribution(histogram(a[0]), histogram(b[0]))
	r.GCPauses = distribution(histogram(a[1]), histogram(b[1]))
	if a[2].Value.Kind() == metrics.KindUint64 && b[2].Value.Kind() == metrics.KindUint64 {
		r.GCCycles = b[2].Value.Uint64() - a[2].Value.Uint64()
	}
	gc, ok1 := delta(a[3], b[3])
	total, ok2 := delta(a[4], b[4])
	idle, ok3 := delta(a[5], b[5])
	switch {
	case ok1 && ok2 && ok3 && total-idle > 0:
		r.GCCPUShare = gc / (total - idle)
	case r.GCCycles == 0:
		// The runtime updates its CPU classes at the end of a cycle: with
		// none in the window they did not move, and the GC took nothing.
		r.GCCPUShare = 0
	}
	return r
}

// delta is b - a of a float metric read twice.
func delta(a, b metrics.Sample) (float64, bool) {
	if a.Value.Kind() != metrics.KindFloat64 || b.Value.Kind() != metrics.KindFloat64 {
		return 0, false
	}
	return b.Value.Float64() - a.Value.Float64(), true
}

func histogram(s metrics.Sample) *metrics.Float64Histogram {
	if s.Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s.Value.Float64Histogram()
}

// distribution is the histogram of what b counted beyond a (the same
// metric read twice: same buckets).
func distribution(a, b *metrics.Float64Histogram) Distribution {
	var d Distribution
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return d
	}
	counts := make([]uint64, len(b.Counts))
	for i := range counts {
		counts[i] = b.Counts[i] - a.Counts[i]
		d.Samples += counts[i]
	}
	d.P50ms = quantile(counts, b.Buckets, d.Samples, 0.5)
	d.P90ms = quantile(counts, b.Buckets, d.Samples, 0.9)
	d.P99ms = quantile(counts, b.Buckets, d.Samples, 0.99)
	d.P999ms = quantile(counts, b.Buckets, d.Samples, 0.999)
	return d
}

// quantile is the upper bound, in milliseconds, of the bucket that holds
// the q quantile of counts (bucket i spans buckets[i] to buckets[i+1]); of
// the last, unbounded bucket its lower bound; 0 without samples.
func quantile(counts []uint64, buckets []float64, total uint64, q float64) float64 {
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i, n := range counts {
		cum += n
		if cum >= rank {
			bound := buckets[i+1]
			if math.IsInf(bound, 1) {
				bound = buckets[i]
			}
			return bound * 1000
		}
	}
	return 0
}

// Handler serves Measure as JSON: GET ?seconds=N (1 to 600, default 10)
// answers after N seconds with that window's report.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secs := 10
		if v := r.URL.Query().Get("seconds"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 600 {
				http.Error(w, "seconds: a whole number from 1 to 600", http.StatusBadRequest)
				return
			}
			secs = n
		}
		rep := Measure(r.Context(), time.Duration(secs)*time.Second)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
}
