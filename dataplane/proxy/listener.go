package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// inspectTimeout is not part of the contract but keeps a slow or silent
// client from holding resources forever: the PROXY header, the ClientHello
// and the TLS handshake must each arrive within it. The HTTP limits and
// timeouts are in limits.go.
const inspectTimeout = 10 * time.Second

// socket is one bound listener address. It survives configuration changes
// that keep its address; what it serves is looked up in the current state
// per connection and per request.
type socket struct {
	p     *Proxy
	addr  string // socketKey: the key of this socket in state.byAddr
	ln    net.Listener
	srv   *http.Server
	queue *connQueue
	h1    h1Conns       // connections the own HTTP/1.1 loop serves (h1serve.go)
	done  chan struct{} // closed when the accept loop ended

	limits Limits        // fixed at bind (limits.go)
	conns  connCounter   // open connections, against limits.MaxConnections
	chains chainCounters // open connections per chain with a connection_limit
}

func (p *Proxy) bind(key string, l *config.Listener) (*socket, error) {
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, bindError(l, err)
	}
	s := &socket{p: p, addr: key, ln: ln, queue: newConnQueue(ln.Addr()), done: make(chan struct{})}
	// Server-wide limits and timeouts come from the first HTTP chain at
	// bind time: net/http cannot change them on a running server.
	s.limits = limitsFor(p.limits, l)
	s.srv = &http.Server{
		Handler:   s,
		Protocols: serverProtocols(),
		ErrorLog:  p.errLog,
		// Connections the HTTP/1.1 loop handed over keep their TLS state.
		ConnContext: handoverConnContext,
	}
	s.limits.applyTo(s.srv)
	if err := s.serveHTTP2Guarded(s.srv); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listener %q: HTTP/2: %w", l.Name, err)
	}
	return s, nil
}

// start runs the accept loop and the HTTP server fed by it.
func (s *socket) start() {
	go func() {
		if err := s.srv.Serve(s.queue); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.p.log.Error("http server stopped", "address", s.addr, "error", err)
		}
	}()
	go s.acceptLoop()
}

func (s *socket) acceptLoop() {
	defer close(s.done)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and similar: wait rather than spin.
			backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
			s.p.log.Warn("accept failed", "address", s.addr, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go s.handleConn(c)
	}
}

// handleConn picks the filter chain of a new connection and hands it to the
// HTTP server or the TCP proxy.
func (s *socket) handleConn(c net.Conn) {
	defer func() {
		if v := recover(); v != nil {
			s.p.log.Error("panic while dispatching connection", "address", s.addr, "panic", v)
			c.Close()
		}
	}()
	st := s.p.state.Load()
	l := st.byAddr[s.addr]
	if l == nil {
		c.Close()
		return
	}
	dc := s.admit(l, c)
	if dc == nil {
		return
	}
	c = dc
	var hello clientHello
	var isTLS bool
	conn := c
	if l.Inspect {
		c.SetReadDeadline(time.Now().Add(inspectTimeout))
		var err error
		hello, isTLS, conn, err = peekClientHello(c)
		if err != nil {
			s.p.log.Debug("connection closed before a chain was chosen", "address", s.addr, "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		c.SetReadDeadline(time.Time{})
	}
	chain := l.SelectChain(hello.serverName, hello.alpn)
	if chain == nil {
		s.p.log.Debug("no filter chain matches", "listener", l.Name, "sni", hello.serverName, "alpn", hello.alpn)
		s.p.metrics.ConnRejected(l.Name, "no_filter_chain")
		c.Close()
		return
	}
	if !s.admitChain(l, chain, dc) {
		c.Close()
		return
	}
	if chain.TLS != nil {
		if l.Inspect && !isTLS {
			c.Close()
			return
		}
		tc := s.handshake(l, conn, chain.TLS)
		if tc == nil {
			return
		}
		conn = tc
	}
	switch {
	case chain.HTTP != nil:
		if chain.TLS == nil {
			// Garbage that is neither HTTP/1 nor the h2c preface gets 400
			// at once instead of waiting for the header timeout.
			if conn = sniffPlainHTTP(conn, s.limits.RequestHeadersTimeout); conn == nil {
				return
			}
		}
		s.serveHTTP(conn)
	case chain.TCP != nil:
		s.p.proxyTCP(st, l, chain, conn)
	case chain.DirectResponse != nil && chain.TLS == nil:
		// A refusing chain: the SNI belongs to a listener with nothing to
		// serve, and the chain only keeps the client from a less specific
		// chain of another listener. Closed before any handshake.
		if ok, left := s.p.refusals.allow(time.Now()); ok {
			s.p.log.Info("connection refused by its filter chain", "listener", l.Name, "chain", chain.Name, "sni", hello.serverName, "remote", c.RemoteAddr().String(), "notLogged", left)
		}
		s.p.metrics.ConnRejected(l.Name, "no_filter_chain")
		s.p.metrics.Refused(l.Name, "tls", chain.Name)
		c.Close()
	case chain.DirectResponse != nil:
		// A TLS-ALPN-01 challenge chain: the handshake above presented
		// the validation certificate with ALPN acme-tls/1, which is all
		// the ACME server checks (RFC 8737); the empty response closes
		// (with close_notify).
		s.p.log.Debug("ACME TLS-ALPN-01 challenge answered", "listener", l.Name, "chain", chain.Name, "remote", c.RemoteAddr().String())
		conn.Close()
	default:
		conn.Close()
	}
}

// serveHTTP gives an HTTP connection to the own HTTP/1.1 loop, or to the
// net/http server when it speaks HTTP/2 (TLS with ALPN h2, or the h2c
// preface the sniffer saw).
func (s *socket) serveHTTP(conn net.Conn) {
	switch c := conn.(type) {
	case *tls.Conn:
		cs := c.ConnectionState()
		if p := cs.NegotiatedProtocol; p == "" || p == "http/1.1" {
			s.serveH1(conn, &cs)
			return
		}
	case *replayConn:
		if len(c.head) < len(h2Preface) || string(c.head[:len(h2Preface)]) != h2Preface {
			s.serveH1(conn, nil)
			return
		}
	}
	if !s.queue.push(conn) {
		conn.Close()
	}
}

// drain stops accepting and lets in-flight requests finish until ctx ends:
// on both servers, net/http's and the HTTP/1.1 loop's.
func (s *socket) drain(ctx context.Context) {
	s.ln.Close()
	<-s.done
	loopDone := make(chan struct{})
	go func() { s.h1.shutdown(ctx); close(loopDone) }()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-loopDone
}

// connQueue is the net.Listener the HTTP server reads: connections the
// accept loop has already classified as HTTP.
type connQueue struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.closed:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
