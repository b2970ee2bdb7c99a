package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the first with
// sockIO's reads and writes.
func tcpPair(t *testing.T) (*sockConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	sc, ok := withSockIO(c).(*sockConn)
	if !ok {
		t.Fatal("a TCP connection did not get sockIO")
	}
	return sc, s.(*net.TCPConn)
}

// sockIO behaves as net.TCPConn's Read and Write: data both ways, io.EOF
// at the peer's FIN, the error of a reset, of a deadline and of a closed
// connection.
func TestSockIOIsATCPConnection(t *testing.T) {
	c, peer := tcpPair(t)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(peer, buf[:4]); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if _, err := peer.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	// A read that finds nothing parks until its deadline.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
		t.Fatalf("read past the deadline: %d, %v", n, err)
	}
	c.SetReadDeadline(time.Time{})

	// A read that parks is woken by the bytes.
	go func() {
		time.Sleep(10 * time.Millisecond)
		peer.Write([]byte("late"))
	}()
	if n, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read after a wait %q, %v", buf[:n], err)
	}

	// The peer's FIN.
	peer.CloseWrite()
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at the FIN: %d, %v", n, err)
	}

	// A closed connection.
	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v", err)
	}
	if _, err := c.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v", err)
	}
}

func TestSockIOReset(t *testing.T) {
	c, peer := tcpPair(t)
	peer.SetLinger(0)
	peer.Close() // RST
	buf := make([]byte, 1)
	_, err := c.Read(buf)
	var oe *net.OpError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read after a reset: %v", err)
	}
	// Writing on: EPIPE or ECONNRESET, never a signal.
	for range 3 {
		if _, err = c.Write([]byte("x")); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write after a reset: %v", err)
	}
}

// A write larger than both socket buffers parks until the peer reads, and
// goes out whole.
func TestSockIOWriteWaitsForTheReader(t *testing.T) {
	c, peer := tcpPair(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB, more than loopback buffers hold
	got := make(chan []byte)
	go func() {
		time.Sleep(20 * time.Millisecond) // the writer fills the buffers first
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	n, err := c.Write(want)
	if err != nil || n != len(want) {
		t.Fatalf("write: %d of %d, %v", n, len(want), err)
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer read %d bytes, want %d", len(b), len(want))
	}
}

// A second concurrent reader or writer takes the connection's own Read and
// Write, so the net.Conn contract holds for any caller.
func TestSockIOConcurrentCallFallsBack(t *testing.T) {
	c, peer := tcpPair(t)
	c.sock.reading.Store(true) // another Read in progress
	c.sock.writing.Store(true) // another Write in progress
	if _, err := c.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "ab" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	peer.Write([]byte("cd"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "cd" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if !c.sock.reading.Load() || !c.sock.writing.Load() {
		t.Fatal("the fallback released the other call's claim")
	}
}

// drained says whether the last read found the socket empty after it
// (h1alive.go quiet): a read short of its buffer; not one that filled it,
// nor an error; and a read refused by its deadline before it reached the
// socket (tlsDrained's) leaves it as it was.
func TestSockIODrained(t *testing.T) {
	sc, peer := tcpPair(t)
	s := sc.sock
	buf := make([]byte, 64)
	peer.Write([]byte("abc"))
	if n, err := sc.Read(buf); n != 3 || err != nil || !s.drained.Load() {
		t.Fatalf("short read: %d %v, drained %v; want 3, drained", n, err, s.drained.Load())
	}
	sc.SetReadDeadline(aLongTimeAgo)
	if _, err := sc.Read(buf); !isTimeout(err) || !s.drained.Load() {
		t.Fatalf("read past its deadline: %v, drained %v; want a timeout, still drained", err, s.drained.Load())
	}
	sc.SetReadDeadline(time.Time{})
	peer.Write(bytes.Repeat([]byte("x"), len(buf)))
	// Loopback: the bytes are in the socket once Write returned, so one
	// read may fill the buffer exactly; a short one is retried.
	got := 0
	for got < len(buf) {
		n, err := sc.Read(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if s.drained.Load() {
		t.Fatal("drained after a read that filled its buffer: the socket may hold more")
	}
	peer.Close()
	if _, err := sc.Read(buf); err != io.EOF || s.drained.Load() {
		t.Fatalf("read at the FIN: %v, drained %v; want io.EOF, not drained", err, s.drained.Load())
	}
}
