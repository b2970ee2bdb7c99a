package proxy

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/pollready"
)

// clientPair is tcpPair with the first end read as admit reads a client's
// connection: parking without trying an empty socket where the runtime
// can tell (sockio.go, Read).
func clientPair(t *testing.T) (*sockConn, interface {
	Write([]byte) (int, error)
	CloseWrite() error
	SetLinger(int) error
	Close() error
	SyscallConn() (syscall.RawConn, error)
}) {
	t.Helper()
	c, peer := tcpPair(t)
	c.sock.parkEmpty = pollready.Available()
	return c, peer
}

type readResult struct {
	n   int
	err error
}

// readWithin reads once from c, at most 5 s: a read that parked on a
// socket nothing will wake again fails here, and is ended by closing c.
func readWithin(t *testing.T, c *sockConn, buf []byte) (int, error) {
	t.Helper()
	done := make(chan readResult, 1)
	go func() {
		n, err := c.Read(buf)
		done <- readResult{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(5 * time.Second):
		c.Close()
		<-done
		t.Fatal("the read did not end within 5 s: it parked with nothing left to wake it")
		return 0, nil
	}
}

// A client's request comes a round trip after the response: each read
// that finds nothing since the last one emptied the socket parks without
// trying it, so each request takes one recvmsg. Without the skip, each
// read would find the socket empty first (EAGAIN): two per request.
func TestClientReadParksWithoutTryingAnEmptySocket(t *testing.T) {
	c, peer := clientPair(t)
	if !pollready.Available() {
		// The standard runtime: every read tries the socket, as before.
		peer.Write([]byte("x"))
		if n, err := readWithin(t, c, make([]byte, 8)); n != 1 || err != nil || c.sock.relay != nil {
			t.Fatalf("read %d, %v, relay %v; want 1 byte by recvfrom", n, err, c.sock.relay != nil)
		}
		return
	}
	const requests = 200
	got := make(chan string)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	for i := range requests {
		// The reader is back in its next read, as a proxy is when the
		// client's next request arrives.
		time.Sleep(200 * time.Microsecond)
		msg := string([]byte{byte('a' + i%26), '\n'})
		peer.Write([]byte(msg))
		select {
		case s := <-got:
			if s != msg {
				t.Fatalf("request %d: read %q, want %q", i, s, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: not read within 5 s", i)
		}
	}
	peer.CloseWrite()
	if _, ok := <-got; ok {
		t.Fatal("bytes after the last request")
	}
	if !c.sock.relay.inq {
		t.Fatal("TCP_INQ is off: this kernel is older than 4.18, or the option failed")
	}
	// One per request and one for the FIN; a few more when a request's
	// notification comes after the read that took its bytes.
	reads := c.sock.relay.reads
	if reads > requests+requests/10+1 {
		t.Fatalf("%d recvmsg calls for %d requests: want about one per request", reads, requests)
	}
	t.Logf("%d recvmsg calls for %d requests", reads, requests)
}

// The client's last bytes and its FIN arrive together: the read that takes
// the bytes leaves the FIN (TCP_INQ says 1), and the next read must find
// it, not park.
func TestClientReadFINWithTheLastBytes(t *testing.T) {
	c, peer := clientPair(t)
	peer.Write([]byte("last"))
	peer.CloseWrite()
	settle()
	buf := make([]byte, 64)
	if n, err := readWithin(t, c, buf); err != nil || string(buf[:n]) != "last" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := readWithin(t, c, buf); err != io.EOF {
		t.Fatalf("read after the last bytes: %v, want io.EOF", err)
	}
}

// The client's last bytes and its reset arrive together: TCP_INQ says 0
// after the read that takes the bytes, and the reset's notification went
// with them. The next read must return the reset's error, not park.
func TestClientReadResetWithTheLastBytes(t *testing.T) {
	c, peer := clientPair(t)
	peer.Write([]byte("last"))
	peer.SetLinger(0)
	peer.Close()
	settle()
	buf := make([]byte, 64)
	n, err := readWithin(t, c, buf)
	if err == nil {
		if string(buf[:n]) != "last" {
			t.Fatalf("read %q", buf[:n])
		}
		_, err = readWithin(t, c, buf)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the last bytes: %v, want ECONNRESET", err)
	}
}

// A read stops at urgent data (TCP's out-of-band byte) with bytes behind
// it: the next read must take them (TCP_INQ counts them), not park.
func TestClientReadPastUrgentData(t *testing.T) {
	c, peer := clientPair(t)
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
	var got []byte
	buf := make([]byte, 64)
	for len(got) < len("abcdef") {
		n, err := readWithin(t, c, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abcdef" {
		t.Fatalf("read %q, want \"abcdef\"", got)
	}
}

// A read that parked without trying the socket and whose deadline passed
// read nothing: the next one may still park without trying, and reads
// what comes.
func TestClientReadDeadlineWhileParked(t *testing.T) {
	c, peer := clientPair(t)
	buf := make([]byte, 64)
	peer.Write([]byte("one"))
	if n, err := readWithin(t, c, buf); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := readWithin(t, c, buf); !isTimeout(err) {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	if pollready.Available() && !c.sock.emptied {
		t.Fatal("the read that timed out while parked forgot that the socket was empty")
	}
	c.SetReadDeadline(time.Time{})
	peer.Write([]byte("two"))
	if n, err := readWithin(t, c, buf); err != nil || string(buf[:n]) != "two" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
