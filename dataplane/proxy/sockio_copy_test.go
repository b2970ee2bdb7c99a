package proxy

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/pollready"
)

// burstSink is copyTo's dst: it keeps what it is given and signals each
// write (never blocking: a signal already pending says the same).
type burstSink struct {
	mu    sync.Mutex
	got   bytes.Buffer
	wrote chan struct{}
}

func newBurstSink() *burstSink { return &burstSink{wrote: make(chan struct{}, 1)} }

func (b *burstSink) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.got.Write(p)
	b.mu.Unlock()
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *burstSink) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got.String()
}

// waitFor waits until the sink holds want, at most 5 s.
func (b *burstSink) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for b.String() != want {
		select {
		case <-b.wrote:
		case <-deadline:
			t.Fatalf("the copy delivered %q, want %q", b.String(), want)
		}
	}
}

type copyResult struct {
	n    int64
	bulk bool
	err  error
}

// startCopy runs copyTo from c to dst; closing c ends it.
func startCopy(t *testing.T, c *sockConn, dst io.Writer) <-chan copyResult {
	t.Helper()
	done := make(chan copyResult, 1)
	go func() {
		n, bulk, ok, err := c.sock.copyTo(dst, make([]byte, tcpCopyBufSize))
		if !ok {
			err = errors.New("copyTo did not run")
		}
		done <- copyResult{n, bulk, err}
	}()
	return done
}

// copyEnd waits for copyTo's end, at most 5 s: a copy that parked on a
// socket nothing will wake again fails here, and is ended by closing c.
func copyEnd(t *testing.T, c *sockConn, done <-chan copyResult) copyResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		c.Close()
		<-done
		t.Fatal("the copy did not end within 5 s: it parked with nothing left to wake it")
		return copyResult{}
	}
}

// Each burst the peer sends is read by one recvmsg: after it the socket is
// empty (TCP_INQ) and the poller saw no reset, so the copy parks without
// the read that would fail. Without hack/netpollfifo's overlay the poller
// cannot tell, and the copy reads again as a Read would: two per burst.
func TestCopyToReadsEachBurstOnce(t *testing.T) {
	c, peer := tcpPair(t)
	sink := newBurstSink()
	done := startCopy(t, c, sink)
	const bursts = 200
	var want bytes.Buffer
	for i := range bursts {
		msg := []byte{byte('a' + i%26), byte('A' + i%26), '\n'}
		want.Write(msg)
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, want.String()) // one burst at a time, as a request and its response
	}
	peer.CloseWrite()
	r := copyEnd(t, c, done)
	if r.err != nil || r.bulk || r.n != int64(want.Len()) {
		t.Fatalf("copy ended with %d bytes, bulk %v, %v; want %d, nil", r.n, r.bulk, r.err, want.Len())
	}
	reads := c.sock.relay.reads
	if pollready.Available() {
		if !c.sock.relay.inq {
			t.Fatal("TCP_INQ is off: this kernel is older than 4.18, or the option failed")
		}
		// One per burst and one for the FIN; a few more when a burst's
		// notification comes after the read that took its bytes.
		if reads > bursts+bursts/10+1 {
			t.Fatalf("%d recvmsg calls for %d bursts: want about one per burst", reads, bursts)
		}
	} else if reads < 2*bursts {
		t.Fatalf("standard runtime: %d recvmsg calls for %d bursts: the copy parked without knowing that no reset came (want two per burst)", reads, bursts)
	}
	t.Logf("%d recvmsg calls for %d bursts (overlay: %v)", reads, bursts, pollready.Available())
}

// settle lets the poller see what the peer did: the test goroutine sleeps,
// the scheduler has nothing to run and polls, and the notification is
// recorded before the copy starts, where the copy's own start resets it.
func settle() { time.Sleep(50 * time.Millisecond) }

// The peer's last bytes and its reset arrive together, before the copy
// starts: one read takes the bytes and leaves the socket empty (TCP_INQ
// says 0; it does not count a reset), and the reset's notification is
// gone. The copy must still end with the reset's error, not park.
func TestCopyToResetWithTheLastBytes(t *testing.T) {
	c, peer := tcpPair(t)
	peer.Write([]byte("last"))
	peer.SetLinger(0)
	peer.Close() // a reset
	settle()
	sink := newBurstSink()
	r := copyEnd(t, c, startCopy(t, c, sink))
	if !errors.Is(r.err, syscall.ECONNRESET) || sink.String() != "last" {
		t.Fatalf("copy ended with %v after %q; want ECONNRESET after \"last\"", r.err, sink.String())
	}
}

// The peer's last bytes and its FIN arrive together, before the copy
// starts: the read that takes the bytes takes the FIN too, and the copy
// must end at it (TCP_INQ says 1 after a FIN).
func TestCopyToFINWithTheLastBytes(t *testing.T) {
	c, peer := tcpPair(t)
	peer.Write([]byte("last"))
	peer.CloseWrite()
	settle()
	sink := newBurstSink()
	r := copyEnd(t, c, startCopy(t, c, sink))
	if r.err != nil || sink.String() != "last" {
		t.Fatalf("copy ended with %v after %q; want nil (EOF) after \"last\"", r.err, sink.String())
	}
}

// A read stops at urgent data (TCP's out-of-band byte) with bytes behind
// it: the copy must read on (TCP_INQ counts them), not park on a socket
// that still holds them. The urgent byte itself is not in the stream.
func TestCopyToReadsPastUrgentData(t *testing.T) {
	c, peer := tcpPair(t)
	raw, err := peer.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("abc"))
	var serr error
	raw.Control(func(fd uintptr) { serr = syscall.Sendto(int(fd), []byte("X"), syscall.MSG_OOB, nil) })
	if serr != nil {
		t.Fatal(serr)
	}
	peer.Write([]byte("def"))
	settle()
	sink := newBurstSink()
	done := startCopy(t, c, sink)
	sink.waitFor(t, "abcdef")
	peer.CloseWrite()
	if r := copyEnd(t, c, done); r.err != nil {
		t.Fatalf("copy ended with %v", r.err)
	}
}

// A read that fills the buffer hands the rest to the caller (bulk), with
// everything read so far written.
func TestCopyToStopsAtAFullRead(t *testing.T) {
	c, peer := tcpPair(t)
	big := bytes.Repeat([]byte("x"), 4*tcpCopyBufSize)
	go peer.Write(big)
	sink := newBurstSink()
	r := copyEnd(t, c, startCopy(t, c, sink))
	if r.err != nil || !r.bulk || r.n == 0 || r.n%int64(tcpCopyBufSize) != 0 || int64(len(sink.String())) != r.n {
		t.Fatalf("copy ended with %d bytes (sink %d), bulk %v, %v; want whole buffers, bulk", r.n, len(sink.String()), r.bulk, r.err)
	}
}

// The copy loop finds the socket below the connections the TCP proxy
// copies: a dialed one, an accepted one, and either below the inspector's
// prefixConn once its replay is done; not while bytes are left to replay.
func TestSockBelow(t *testing.T) {
	c, peer := tcpPair(t)
	down := &downstreamConn{Conn: peer, sock: newSockIO(peer)}
	if sockBelow(c) != c.sock || sockBelow(down) != down.sock || down.sock == nil {
		t.Fatal("a dialed or an accepted connection: not its own sockIO")
	}
	replaying := &prefixConn{Conn: down, prefix: []byte("hello")}
	if sockBelow(replaying) != nil {
		t.Fatal("a prefixConn with bytes left to replay: the copy would skip them")
	}
	replaying.prefix = replaying.prefix[len(replaying.prefix):]
	if sockBelow(replaying) != down.sock {
		t.Fatal("a prefixConn done replaying: not the socket below it")
	}
	if sockBelow(bytes.NewReader(nil)) != nil || sockBelow(peer) != nil {
		t.Fatal("a reader without sockIO: want none")
	}
}
