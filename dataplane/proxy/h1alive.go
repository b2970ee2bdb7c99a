package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"
)

// An idle pooled connection is not read between requests, so a backend
// that closed it (its keep-alive timeout) is only noticed by the next
// request. A bodyless idempotent request is then retried on a fresh
// connection (h1exchange.go), as http.Transport does. Every connection is
// probed before it is used again: one non-blocking MSG_PEEK recv, which
// reports the backend's FIN, or anything it sent unasked (which would
// otherwise be read as the next response), without consuming data.

// initProbe prepares alive; a connection without a file descriptor is
// never probed (treated as alive).
func (pc *h1Conn) initProbe() {
	c := pc.conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var buf [1]byte
	var dead bool
	peek := func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is idle and open. n == 0
		// without error: the backend closed it. n > 0: it sent bytes
		// nobody asked for; the connection is out of step either way.
		dead = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
		return true // never wait for readability
	}
	pc.probe = func() bool {
		dead = false
		if err := raw.Read(peek); err != nil {
			return false
		}
		return !dead
	}
}

// alive reports whether an idle connection still looks usable.
func (pc *h1Conn) alive() bool {
	if pc.probe == nil {
		return true
	}
	return pc.probe()
}

// tlsDrained reports whether a TLS connection holds no response bytes
// beyond the ones read: the probe above peeks the socket, but bytes of a
// record already decrypted sit in the tls.Conn where no peek sees them (an
// upstream sending more than its Content-Length in the same record). A
// read with a deadline in the past returns such bytes at once and
// otherwise fails with a timeout, which leaves the connection usable. A
// plain connection has no such buffer.
func tlsDrained(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return true
	}
	var b [1]byte
	tc.SetReadDeadline(aLongTimeAgo)
	n, err := tc.Read(b[:])
	tc.SetReadDeadline(time.Time{})
	return n == 0 && isTimeout(err)
}
