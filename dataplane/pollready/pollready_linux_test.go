//go:build linux

package pollready

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (local, remote *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-accepted
	if r == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); r.Close() })
	return c.(*net.TCPConn), r.(*net.TCPConn)
}

// readParked reads what the peer sends after the read has parked in the
// poller, as an upstream response is read (its readiness reset first, the
// bytes' notification then waking the reader): no notification of those
// bytes is left behind for the poller to find later. send is called once
// the first attempt found the socket empty.
func readParked(t *testing.T, c *net.TCPConn, send func()) string {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var buf [64]byte
	var n int
	tries := 0
	err = raw.Read(func(fd uintptr) bool {
		tries++
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e == syscall.EAGAIN {
			if tries == 1 {
				send()
			}
			return false
		}
		n = int(r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// eventually waits for cond, letting the scheduler poll in between.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPendingTellsWhatArrivedOnAnIdleConnection drives a loopback connection
// through what a pooled upstream connection sees: an answer read, then
// idleness, then bytes nobody asked for, then the peer's FIN. With
// hack/netpollfifo's overlay (`make test` runs this package with it) the
// Watch must say "nothing" while nothing arrived and "pending" once
// something did; with the standard runtime it must say it does not know.
func TestPendingTellsWhatArrivedOnAnIdleConnection(t *testing.T) {
	local, remote := pair(t)
	w := Of(local)
	if !Available() {
		if w.Known() || !w.Pending() {
			t.Fatalf("the standard runtime: Watch known %v, pending %v; want unknown, and pending (ask the socket)", w.Known(), w.Pending())
		}
		return
	}
	if !w.Known() {
		t.Fatal("the runtime answers (hack/netpollfifo's overlay), but the connection's poll descriptor was not found: review descriptorOf for this Go version")
	}
	if got := readParked(t, local, func() { remote.Write([]byte("answer")) }); got != "answer" {
		t.Fatalf("read %q", got)
	}
	// Idle: the poller polls many times over (each sleep parks the test
	// goroutine) and must find nothing.
	for range 20 {
		time.Sleep(time.Millisecond)
		if w.Pending() {
			t.Fatal("pending on an idle connection nothing arrived on")
		}
	}
	remote.Write([]byte("unasked"))
	eventually(t, "pending after the peer sent bytes unasked", w.Pending)
	// A read takes the notification.
	if got := readParked(t, local, func() { t.Error("the unasked bytes were not there to read") }); got != "unasked" {
		t.Fatalf("read %q", got)
	}
	if w.Pending() {
		t.Fatal("still pending after the bytes were read")
	}
	remote.Close()
	eventually(t, "pending after the peer's FIN", w.Pending)
}

// An unknown Watch says pending, so that a caller asks the socket.
func TestUnknownWatchIsPending(t *testing.T) {
	var w Watch
	if w.Known() || !w.Pending() {
		t.Fatalf("zero Watch: known %v, pending %v", w.Known(), w.Pending())
	}
	if w := Of(nil); w.Known() {
		t.Fatal("Of(nil) is known")
	}
}

// TestHungUpTellsThePeersFINAndReset: with the overlay, HungUp is false on
// a connection that only ever carried bytes (read or not), true once the
// poller has seen the peer's FIN, and stays true after a read took the
// notification; a reset counts as well. With the standard runtime it says
// it does not know (true).
func TestHungUpTellsThePeersFINAndReset(t *testing.T) {
	local, remote := pair(t)
	w := Of(local)
	if !Available() {
		if !w.HungUp() {
			t.Fatal("the standard runtime: HungUp false; want true (ask the socket)")
		}
		return
	}
	if got := readParked(t, local, func() { remote.Write([]byte("answer")) }); got != "answer" {
		t.Fatalf("read %q", got)
	}
	remote.Write([]byte("unasked"))
	eventually(t, "pending after the peer sent bytes", w.Pending)
	if w.HungUp() {
		t.Fatal("hung up on a connection that only carried bytes")
	}
	remote.CloseWrite()
	eventually(t, "hung up after the peer's FIN", w.HungUp)
	if got := readParked(t, local, func() { t.Error("the bytes were not there to read") }); got != "unasked" {
		t.Fatalf("read %q", got)
	}
	if !w.HungUp() {
		t.Fatal("the read cleared the record of the FIN")
	}

	// A reset, on a fresh connection (the descriptor may be the one the
	// first connection's was: its record must not carry over).
	local.Close()
	local2, remote2 := pair(t)
	w2 := Of(local2)
	for range 20 {
		time.Sleep(time.Millisecond)
		if w2.HungUp() {
			t.Fatal("a new connection is hung up before anything happened on it")
		}
	}
	remote2.SetLinger(0)
	remote2.Close()
	eventually(t, "hung up after the peer's reset", w2.HungUp)
}
