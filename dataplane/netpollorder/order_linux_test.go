//go:build linux

package netpollorder

import (
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestPollerWakesInTheOrderTheBinaryClaims makes pipes readable one after
// another while the test holds the only P, so that the runtime's poller finds
// them all in one batch, and checks the order the woken goroutines ran in:
// the order the pipes became ready when the binary claims it (built with
// hack/netpollfifo's overlay: `make test` runs this package so too), the
// reverse with the standard runtime. It fails when Go changes its order,
// which would make the overlay unnecessary or wrong.
//
// On a busy machine the test's thread can lose its CPU between two writes
// for longer than sysmon's 10 ms, and sysmon then polls the pipes made
// ready so far: the batch comes in two, each in the runtime's order
// ([2 1 0 15 14 ... 3] with the standard runtime; seen in CI, and by hand
// with the CPUs kept busy). Such a trial shows neither order and is run
// again; the test asks for three trials in the claimed order, and fails at
// once on the opposite order, which no split batch produces.
func TestPollerWakesInTheOrderTheBinaryClaims(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race the scheduler runs goroutines in a random order; make test runs this without it")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n, trials, wantMatches = 16, 10, 3
	ascending := make([]int, n)
	for i := range ascending {
		ascending[i] = i
	}
	descending := slices.Clone(ascending)
	slices.Reverse(descending)
	claimed, opposite := descending, ascending
	if ReadinessOrder() {
		claimed, opposite = ascending, descending
	}
	matches := 0
	var split [][]int
	for trial := 0; trial < trials && matches < wantMatches; trial++ {
		got := wakeOrder(t, n)
		switch {
		case slices.Equal(got, claimed):
			matches++
		case slices.Equal(got, opposite) && ReadinessOrder():
			t.Fatalf("trial %d: the runtime says it wakes goroutines in readiness order (hack/netpollfifo's overlay), but they ran in the order %v", trial, got)
		case slices.Equal(got, opposite):
			t.Fatalf("trial %d: the standard runtime (%s) now wakes goroutines in readiness order by itself: hack/netpollfifo's overlay is no longer needed", trial, runtime.Version())
		default:
			split = append(split, got)
		}
	}
	if len(split) > 0 {
		t.Logf("trials in neither order (a batch split by another poll): %v", split)
	}
	if matches < wantMatches {
		if ReadinessOrder() {
			t.Fatalf("the runtime says it wakes goroutines in readiness order (hack/netpollfifo's overlay), but in %d of %d trials they ran in neither order: %v", len(split), trials, split)
		}
		t.Fatalf("the standard runtime (%s) woke goroutines in neither the reverse of readiness (what hack/netpollfifo corrects) nor readiness in %d of %d trials: %v; review hack/netpollfifo for this Go version", runtime.Version(), len(split), trials, split)
	}
}

// wakeOrder parks a goroutine on the read end of each of n pipes, makes the
// pipes readable in the order 0..n-1, and returns the order in which the
// goroutines then ran.
func wakeOrder(t *testing.T, n int) []int {
	t.Helper()
	readers := make([]*os.File, n)
	writers := make([]int, n)
	for i := range n {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		// A non-blocking descriptor given to os.NewFile is registered with
		// the runtime's poller, as a socket is.
		readers[i] = os.NewFile(uintptr(p[0]), "pipe")
		writers[i] = p[1]
		t.Cleanup(func() {
			readers[i].Close()
			syscall.Close(writers[i])
		})
	}
	var (
		mu      sync.Mutex
		order   []int
		errs    []error
		started atomic.Int32
		done    sync.WaitGroup
	)
	for i := range n {
		done.Go(func() {
			started.Add(1)
			var b [1]byte
			_, err := readers[i].Read(b[:])
			mu.Lock()
			order = append(order, i)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	// With one P, the readers run while this goroutine sleeps, and each
	// parks in the poller on its empty pipe.
	for started.Load() < int32(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	one := [1]byte{'x'}
	for _, w := range writers {
		// RawSyscall does not give up the P, as the runtime's write would
		// for the length of the call: no other thread polls or runs a
		// reader until this goroutine blocks in Wait.
		if _, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(w), uintptr(unsafe.Pointer(&one[0])), 1); errno != 0 {
			t.Fatal(errno)
		}
	}
	done.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return order
}
