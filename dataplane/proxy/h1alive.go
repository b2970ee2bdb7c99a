package proxy

import (
	"crypto/tls"
	"errors"
	"syscall"
)

// An idle pooled connection is not read between requests, so a backend
// that closed it (its keep-alive timeout) is only noticed by the next
// request. A bodyless idempotent request is then retried on a fresh
// connection (h1exchange.go), as http.Transport does; any other request is
// not retried, so its connection is probed first: one non-blocking
// MSG_PEEK recv, which reports the backend's FIN (or anything it sent
// unasked) without consuming data.

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
