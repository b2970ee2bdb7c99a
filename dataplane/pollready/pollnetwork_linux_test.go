//go:build linux

package pollready

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollNetworkRunsWhatArrivedFirst: on one P, bytes that arrived while
// the P was busy wake their reader at PollNetwork, so a goroutine that then
// yields runs after it. Without the poll the scheduler, which polls only
// when it has nothing else to run, would hand the P straight back to the
// yielding goroutine and the reader would wait for its whole run to end.
func TestPollNetworkRunsWhatArrivedFirst(t *testing.T) {
	if !Available() {
		t.Skip("standard runtime: PollNetwork does nothing (built without hack/netpollfifo's overlay)")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	local, remote := pair(t)
	var ran atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		if _, err := remote.Read(b[:]); err == nil {
			ran.Store(true)
		}
	}()
	time.Sleep(20 * time.Millisecond) // the reader parks in the poller
	if _, err := local.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Keep the P without yielding while the byte lands (over loopback it is
	// queued before the write returns; the spin is margin).
	for start := time.Now(); time.Since(start) < 2*time.Millisecond; {
	}
	PollNetwork()
	// Two yields: the scheduler takes from the global queue first on one
	// schedule in 61, which could run this goroutine once before the reader.
	runtime.Gosched()
	runtime.Gosched()
	if !ran.Load() {
		t.Fatal("the reader whose byte had arrived did not run before the goroutine that polled and yielded")
	}
	<-done
}
