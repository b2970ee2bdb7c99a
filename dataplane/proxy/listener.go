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

// Timeouts that are not part of the contract but keep a slow or silent
// client from holding resources forever.
const (
	inspectTimeout           = 10 * time.Second // ClientHello must arrive within this
	defaultReadHeaderTimeout = 60 * time.Second // when request_headers_timeout is unset
	defaultIdleTimeout       = time.Hour        // Envoy's idle_timeout default
	maxHeaderBytes           = 60 << 10         // Envoy's max_request_headers_kb default
)

// socket is one bound listener address. It survives configuration changes
// that keep its address; what it serves is looked up in the current state
// per connection and per request.
type socket struct {
	p     *Proxy
	addr  string // socketKey: the key of this socket in state.byAddr
	ln    net.Listener
	srv   *http.Server
	queue *connQueue
	done  chan struct{} // closed when the accept loop ended
}

func (p *Proxy) bind(key string, l *config.Listener) (*socket, error) {
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %q: cannot bind %s: %w", l.Name, l.Address, err)
	}
	s := &socket{p: p, addr: key, ln: ln, queue: newConnQueue(ln.Addr()), done: make(chan struct{})}
	// Server-wide timeouts come from the first HTTP chain at bind time:
	// net/http cannot change them on a running server.
	readHeader, idle := defaultReadHeaderTimeout, defaultIdleTimeout
	for _, c := range l.Chains {
		if c.HTTP != nil {
			if c.HTTP.RequestHeadersTimeout > 0 {
				readHeader = c.HTTP.RequestHeadersTimeout
			}
			if c.HTTP.IdleTimeout > 0 {
				idle = c.HTTP.IdleTimeout
			}
			break
		}
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeader,
		IdleTimeout:       idle,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         serverProtocols(),
		ErrorLog:          p.errLog,
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
	var sni string
	var isTLS bool
	conn := c
	if l.Inspect {
		c.SetReadDeadline(time.Now().Add(inspectTimeout))
		var err error
		sni, isTLS, conn, err = peekClientHello(c)
		if err != nil {
			s.p.log.Debug("connection closed before a chain was chosen", "address", s.addr, "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		c.SetReadDeadline(time.Time{})
	}
	chain := l.Chain(sni)
	if chain == nil {
		s.p.log.Debug("no filter chain matches", "listener", l.Name, "sni", sni)
		c.Close()
		return
	}
	if chain.TLS != nil {
		if l.Inspect && !isTLS {
			c.Close()
			return
		}
		conn = tls.Server(conn, chain.TLS)
	}
	switch {
	case chain.HTTP != nil:
		if !s.queue.push(conn) {
			conn.Close()
		}
	case chain.TCP != nil:
		s.p.proxyTCP(st, l, chain, conn)
	default:
		conn.Close()
	}
}

// drain stops accepting and lets in-flight requests finish until ctx ends.
func (s *socket) drain(ctx context.Context) {
	s.ln.Close()
	<-s.done
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
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
