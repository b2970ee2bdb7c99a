package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/dataplane/pollready"
)

// An idle pooled connection is not read between requests, so a backend
// that closed it (its keep-alive timeout) is only noticed by the next
// request. A bodyless idempotent request is then retried on a fresh
// connection (h1exchange.go), as http.Transport does. A connection is
// probed before it is used again: one non-blocking MSG_PEEK recv, which
// reports the backend's FIN, or anything it sent unasked (which would
// otherwise be read as the next response), without consuming data.
//
// The probe is skipped for a replayable request (bodyless and idempotent:
// the one a FIN found late is retried) on a connection that is quiet:
// the read that ended its last response found the socket empty
// (sockIO.drained), and the runtime's poller has had no notification for
// it since (dataplane/pollready, in binaries built with hack/netpollfifo's
// overlay). Bytes or a FIN that came after the poller's last poll are
// then not seen before the write, as an event loop does not see them
// before its next epoll_wait (nginx and HAProxy reuse idle connections on
// that knowledge); everything earlier is. A request that cannot be
// replayed is always probed. The probe is one system call of the four or
// five a proxied request makes: 3.5-5% of the data plane's CPU in the peer
// benchmark's profiles (bench/peers/README.md).
//
// A bodyless request does the probe, its write and the wait for the
// response in one RawConn.Read (sendAwait): the poller's readiness is
// reset before the probe, the request goes out, and the goroutine parks
// until the response's first bytes are there. A plain Read after the write
// would first try the socket, find it empty (the backend has not answered
// yet, EAGAIN) and only then park: one failed system call per request,
// about 2% of the proxy's CPU in the HTTP/1.1 benchmark (bench/peers).

// initProbe prepares alive and sendAwait; a connection without a file
// descriptor is never probed (treated as alive) and waits as any reader.
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
	pc.raw = raw
	pc.awaitFn = pc.awaitStep
	if sc, ok := c.(*sockConn); ok {
		pc.sock = sc.sock
		pc.watch = pollready.Of(sc.TCPConn)
	}
}

// quiet reports whether the idle connection can be reused without the
// probe: its last read drained the socket, the poller has heard nothing
// from it since, and it was never told of the backend's FIN or a reset.
// The last is for a FIN that came with the response's last bytes: the
// read that took them took the one notification for both, and a short
// read does not tell that a FIN is behind it. Asked before any read resets
// the poller's readiness.
func (pc *h1Conn) quiet() bool {
	return pc.sock != nil && pc.watch.Known() && pc.sock.drained.Load() && !pc.watch.Pending() && !pc.watch.HungUp()
}

// peekDead reports whether the socket fd has seen the backend's FIN, or
// bytes nobody asked for: either way the connection is out of step.
func peekDead(fd uintptr) bool {
	var buf [1]byte
	_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// EAGAIN: nothing to read, the connection is idle and open. n == 0
	// without error: the backend closed it. n > 0: it sent bytes nobody
	// asked for.
	return err != syscall.EAGAIN && err != syscall.EINTR // Recvfrom returns a bare Errno
}

// alive reports whether an idle connection still looks usable.
func (pc *h1Conn) alive() bool {
	if pc.raw == nil {
		return true
	}
	dead := false
	pc.probes.Add(1)
	if err := pc.raw.Read(func(fd uintptr) bool {
		dead = peekDead(fd)
		return true // never wait for readability
	}); err != nil {
		return false
	}
	return !dead
}

// errStale is sendAwait's answer for a reused connection the probe found
// closed or out of step: nothing was sent on it.
var errStale = errors.New("pooled upstream connection closed while idle")

// sendAwait probes a reused connection (alive) unless it is quiet and the
// request replayable, writes the request (writeH1Request) and returns once
// the connection has something to read: the response, the backend's FIN,
// or an error of the wait (the deadline, an abort). Only for bodyless
// requests, whose write does not read from the client: the connection's
// read lock is held throughout. Nothing may be buffered in pc.br (put
// guarantees it), or the wait would not end.
func (pc *h1Conn) sendAwait(q h1Request, replayable bool) error {
	probe := pc.reused && !(replayable && pc.quiet())
	if pc.raw == nil || pc.br.Buffered() > 0 {
		if probe && !pc.alive() {
			return errStale
		}
		return q.write(pc)
	}
	// The state lives in pc and the step function is made once per
	// connection (initProbe): no allocation per request.
	pc.await = awaitState{req: q, probe: probe}
	err := pc.raw.Read(pc.awaitFn)
	st := pc.await
	pc.await = awaitState{}
	if st.err != nil {
		return st.err
	}
	return err
}

// awaitState is one sendAwait in progress.
type awaitState struct {
	req   h1Request
	probe bool // probe before the write
	sent  bool
	err   error // the probe's or the write's
}

// awaitStep is sendAwait's RawConn.Read function: called first with the
// poller's readiness just reset, again each time the socket is readable.
func (pc *h1Conn) awaitStep(fd uintptr) bool {
	st := &pc.await
	if st.sent {
		return true // readable: the caller's read finds the bytes
	}
	st.sent = true
	if st.probe {
		pc.probes.Add(1)
		if peekDead(fd) {
			st.err = errStale
			return true
		}
	}
	st.err = st.req.write(pc)
	return st.err != nil
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
