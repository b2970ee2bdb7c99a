package proxy

import (
	"net"
	"runtime"

	"github.com/edgeway/edgeway/dataplane/pollready"
)

// Handshake turns: a new connection's TLS handshake computes only in its
// turn, and waits for its turn behind the work of connections already
// established.
//
// Why: a server's handshake is one burst of CPU after the ClientHello (the
// key exchange, the certificate's signature, the key schedule: about 200
// µs of this data plane's core), then a wait for the client's Finished.
// The connection's goroutine runs that burst when the scheduler gets to
// it, in the same run queue as the goroutines serving requests; under a
// burst of new connections (a client fleet reconnecting, or one connection
// per request) a response that came back from the upstream waits behind
// every handshake made runnable before it. In the peer benchmark's
// tls-newconn row by hand, the turns lowered the client's p50 by 6%, and
// its p90 and p99 by 10%, in each of 10 alternated rounds, at the same
// requests a second and CPU per request (bench/peers/README.md,
// "Handshakes take turns").
//
// What: at most one handshake per P computes at a time. A connection takes
// a turn before its handshake and gives it up at the handshake's first
// write (crypto/tls computes the whole flight, key exchange and signature
// included, before it writes any of it: what is left is cheap) or when it
// ends. Taking the turn yields once, to the global run queue,
// which the scheduler serves after the goroutines ready on this P: the
// request work already there goes first, the handshake right after it. A
// handshake waiting for a turn is parked, not in the run queue.
//
// Before it yields, taking the turn polls the network (with the runtime
// overlay of hack/netpollfifo; a no-op without it). The scheduler polls
// only when it has nothing else to run, and one handshake after another
// keeps it busy: a request whose bytes arrived meanwhile was not runnable,
// so it waited for the whole run of handshakes, not for one. Polled, it
// goes before the next handshake, as an event loop serves its whole poll
// before it polls again. By hand in tls-newconn (8 alternated rounds, the
// same binary with and without the poll): wrk's p50 0.90 and p99 0.94, the
// time from the handshake's end to the response's 0.59 at p50 and 0.74 at
// p99, lower in every round, at 0.98 of the requests a second
// (bench/peers/README.md, "A probe that times new connections").
//
// What it does not do: refuse or delay accepting connections. Every
// connection is accepted and its ClientHello read as before, and a client
// that is slow to send its bytes holds no turn while the server waits for
// them (turnConn). The turns only order the CPU: when nothing else is
// runnable a handshake runs at once, so a core is never left idle with a
// handshake waiting. The number of turns is GOMAXPROCS when the proxy is
// made.
type handshakeTurns struct {
	slots chan struct{}
}

func newHandshakeTurns(n int) *handshakeTurns {
	if n < 1 {
		n = 1
	}
	return &handshakeTurns{slots: make(chan struct{}, n)}
}

// take waits for a turn, then lets go first the work already runnable and
// the work that has arrived: the connections whose bytes came in while the
// P was busy, which the scheduler would otherwise only learn of once it
// has nothing left to run (pollready.PollNetwork).
func (t *handshakeTurns) take() {
	t.slots <- struct{}{}
	pollready.PollNetwork()
	runtime.Gosched()
}

func (t *handshakeTurns) give() { <-t.slots }

// turnConn is the connection a terminating handshake runs on. The
// handshake holds its turn while it computes: it waits for the client's
// bytes without it (a read the connection cannot answer from what the TLS
// inspector already read), and gives it up for good at its first write,
// once the server's flight is computed. The write itself holds no turn:
// a flight larger than the socket's buffers waits for the client's window,
// and a client that never opens it must not hold up the handshakes of
// others until the handshake timeout.
//
// turns is only changed by the handshake's goroutine, before the
// connection is served; the connection's later readers and writers
// (concurrent under HTTP/2) find it nil.
type turnConn struct {
	net.Conn
	turns *handshakeTurns // the turn is held; nil once given up for good
}

func (c *turnConn) Write(b []byte) (int, error) {
	c.release()
	return c.Conn.Write(b)
}

func (c *turnConn) Read(b []byte) (int, error) {
	if c.turns == nil {
		return c.Conn.Read(b)
	}
	if pc, ok := c.Conn.(*prefixConn); ok && len(pc.prefix) > 0 {
		return c.Conn.Read(b) // the inspector's bytes: no wait
	}
	// The ClientHello is not all here yet: a client that sends it slowly
	// (or never) must not hold up the handshakes of others.
	c.turns.give()
	n, err := c.Conn.Read(b)
	c.turns.take()
	return n, err
}

// release gives the turn up for good, if it is still held.
func (c *turnConn) release() {
	if c.turns != nil {
		c.turns.give()
		c.turns = nil
	}
}
