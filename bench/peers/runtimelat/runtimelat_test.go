package runtimelat

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestQuantileIsTheBucketsUpperBound: a quantile is the upper bound of the
// bucket that holds it, in milliseconds; the unbounded last bucket gives
// its lower bound.
func TestQuantileIsTheBucketsUpperBound(t *testing.T) {
	buckets := []float64{0, 0.001, 0.002, 0.004, math.Inf(1)}
	counts := []uint64{90, 9, 0, 1} // 100 samples
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 1}, {0.9, 1}, {0.95, 2}, {0.99, 2}, {0.999, 4}, {1, 4}} {
		if got := quantile(counts, buckets, 100, tc.q); got != tc.want {
			t.Errorf("quantile %v: %v ms, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile([]uint64{0, 0, 0, 0}, buckets, 0, 0.99); got != 0 {
		t.Errorf("no samples: %v, want 0", got)
	}
}

// TestMeasureSeesTheRuntimeWork: goroutines that keep one P busy and
// garbage collections forced during the window show in the report:
// runnable waits sampled, the cycles counted, their pauses measured.
func TestMeasureSeesTheRuntimeWork(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			time.Sleep(50 * time.Millisecond)
			runtime.GC()
		}
	})
	rep := Measure(context.Background(), 400*time.Millisecond)
	close(stop)
	wg.Wait()
	if rep.GCCycles < 3 {
		t.Errorf("GC cycles %d, want at least the 3 forced", rep.GCCycles)
	}
	if rep.GCPauses.Samples < 3 || rep.GCPauses.P99ms <= 0 {
		t.Errorf("GC pauses %+v, want at least two per cycle, with a p99", rep.GCPauses)
	}
	if rep.RunnableWait.Samples == 0 || rep.RunnableWait.P50ms <= 0 || rep.RunnableWait.P99ms < rep.RunnableWait.P50ms {
		t.Errorf("runnable wait %+v: want samples and ordered quantiles", rep.RunnableWait)
	}
	if rep.Seconds < 0.4 {
		t.Errorf("window %v s, want the 0.4 s asked", rep.Seconds)
	}
}

// TestHandler: ?seconds=N is validated and the report is JSON.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?seconds=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("seconds=0: %s, want 400", resp.Status)
	}
	resp, err = http.Get(srv.URL + "?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("seconds=1: %s, decoding: %v", resp.Status, err)
	}
	if rep.Seconds < 1 {
		t.Errorf("window %v s, want 1", rep.Seconds)
	}
}

// TestNoCycleIsNoGCCPU: the runtime's CPU classes move only when a cycle
// ends; a window without one reports the GC's share as 0, not unknown.
func TestNoCycleIsNoGCCPU(t *testing.T) {
	a := read()
	rep := between(a, a, time.Second)
	if rep.GCCycles != 0 || rep.GCCPUShare != 0 {
		t.Errorf("a window without a cycle: %d cycles, GC CPU %v; want 0 and 0", rep.GCCycles, rep.GCCPUShare)
	}
}
