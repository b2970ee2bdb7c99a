package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The downstream HTTP/1.1 loop serves keep-alive HTTP/1.1 connections
// (plain, and TLS whose ALPN chose http/1.1 or nothing) without net/http's
// server: it reads each request head from the connection's buffered reader
// into the connection's reused *http.Request and header map (h1parse.go),
// gives socket.ServeHTTP its own ResponseWriter (h1writer.go), and writes
// the response head and a small body in one system call. Every request the
// loop does not implement (h1parse.go says which) is handed, with the bytes
// already read, to the socket's net/http server before any handler runs.
//
// Client-gone detection (h1gone.go) is net/http's, started late: once the
// request body is read (at once when there is none) and the handler has
// run for a while, a read waits for the connection to end, and its end
// cancels the request's context, which stops the upstream exchange. The
// context is the connection's: a connection whose client left serves no
// further request.

// h1BufSize is the read buffer of a connection: heads larger than it are
// served by net/http (which applies MaxRequestHeaderBytes to them).
const h1BufSize = 4 << 10

// h1Client states, for draining: an idle connection (between requests, or
// before the first) is closed by drain; an active one after its response.
const (
	h1Idle int32 = iota
	h1Active
	h1Closed
)

// h1Conns are the connections a socket's loop serves.
type h1Conns struct {
	mu      sync.Mutex
	conns   map[*h1Client]struct{}
	closing atomic.Bool
	wg      sync.WaitGroup
}

type h1Client struct {
	s      *socket
	conn   net.Conn
	br     *bufio.Reader
	ctx    context.Context
	cancel context.CancelFunc
	state  atomic.Int32

	remoteAddr string
	tls        *tls.ConnectionState

	// One request at a time, reused: the loop resets them per request.
	req      http.Request
	blank    http.Request // the connection's context, nothing else
	url      url.URL
	header   http.Header
	w        h1Writer
	body     *h1Body // nil: the request has none
	served   int     // requests served so far
	lastPost bool    // net/http skips a CRLF a client sends after a POST body
	lastHead string  // the last request head, shared when the next is the same (keptString)

	watch h1GoneWatch // h1gone.go
	gone  atomic.Bool // the client closed the connection
	// The read deadline the loop armed (deadline.go); every read deadline
	// change goes through it, or forgets it.
	readDeadline coarseDeadline
}

var h1ReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, h1BufSize) }}

// serveH1 serves conn until it closes or is handed to net/http.
func (s *socket) serveH1(conn net.Conn, cs *tls.ConnectionState) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &h1Client{s: s, conn: conn, cancel: cancel, remoteAddr: conn.RemoteAddr().String(), tls: cs,
		header: make(http.Header)}
	c.watch.done = make(chan struct{}, 1)
	ctx = context.WithValue(ctx, h1ClientKey{}, c)
	c.ctx = ctx
	if !s.h1.add(c) {
		cancel()
		conn.Close()
		return
	}
	c.blank = *(&http.Request{}).WithContext(ctx)
	c.br = h1ReaderPool.Get().(*bufio.Reader)
	c.br.Reset(conn)
	c.w.init(c)
	handedOver := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			s.p.log.Error("panic in the HTTP/1.1 loop", "address", s.addr, "panic", v)
		}
		c.stopGoneWatch()
		cancel()
		if !handedOver {
			conn.Close()
		}
		if c.body != nil {
			c.body.Close() // a transport still reading it must be done with c.br
		}
		c.br.Reset(nil)
		h1ReaderPool.Put(c.br)
		s.h1.remove(c)
	}()
	for {
		switch c.next() {
		case h1Parsed:
			if !c.serveOne() {
				return
			}
		case h1Handover:
			handedOver = true
			c.handOver()
			return
		default:
			return
		}
	}
}

// next waits for and reads the next request head: h1Parsed with c.req
// ready, h1Handover, or h1More for a connection to close.
func (c *h1Client) next() h1Verdict {
	lim := c.s.limits
	// Waiting for a first request is reading its head already (as
	// net/http): one header timeout from the start. Between requests the
	// idle timeout, then the header timeout once the head needs more than
	// the bytes that ended the wait (usually the whole head comes at once,
	// and the deadline is not touched again).
	headTimeout := c.served == 0
	if headTimeout {
		c.setReadTimeout(lim.RequestHeadersTimeout)
	}
	if c.br.Buffered() == 0 {
		if c.served > 0 {
			c.setReadTimeout(lim.IdleTimeout)
			// The response just went out; the client's next request
			// cannot be here yet. Reading now would fail (EAGAIN) and
			// park the goroutine until the poller wakes it: a failed
			// system call, a park and a wake-up per request. Letting the
			// other runnable connections go first (what an event loop's
			// turn does) usually finds the request there. An idle
			// proxy has nothing else to run and reads at once.
			runtime.Gosched()
		}
		if _, err := c.br.Peek(1); err != nil {
			return h1More
		}
	}
	if !c.state.CompareAndSwap(h1Idle, h1Active) {
		return h1More // drain closed it
	}
	if c.lastPost {
		c.lastPost = false
		for {
			if c.br.Buffered() == 0 && !headTimeout {
				c.setReadTimeout(lim.RequestHeadersTimeout)
				headTimeout = true
			}
			b, err := c.br.Peek(1)
			if err != nil {
				return h1More
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			c.br.Discard(1)
		}
	}
	var h h1Head
	from := 0
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		switch parseH1Head(b, from, c.header, &h, &c.lastHead) {
		case h1Parsed:
			if h.contentLength > 0 {
				// The body is read without a deadline, as before the
				// loop (the route timeout sets one). A request without
				// a body keeps the head's: nothing reads the connection
				// until the client-gone watch, which clears it.
				c.setReadTimeout(0)
			}
			return c.makeRequest(&h)
		case h1Handover:
			clear(c.header)
			return h1Handover
		}
		if len(b) == c.br.Size() {
			return h1Handover // a head larger than the buffer
		}
		if !headTimeout {
			c.setReadTimeout(lim.RequestHeadersTimeout)
			headTimeout = true
		}
		from = max(len(b)-3, 0)
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return h1More // EOF, reset or the header timeout: close silently, as net/http
		}
	}
}

// makeRequest fills c.req from a parsed head and consumes the head.
func (c *h1Client) makeRequest(h *h1Head) h1Verdict {
	u, ok := h.url(&c.url)
	if !ok {
		clear(c.header)
		return h1Handover
	}
	c.br.Discard(h.size)
	r := &c.req
	*r = c.blank
	r.Method = h.method
	r.URL = u
	r.RequestURI = h.target
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = c.header
	r.Host = h.host
	r.ContentLength = h.contentLength
	r.Close = h.close
	r.RemoteAddr = c.remoteAddr
	r.TLS = c.tls
	r.Body = http.NoBody
	if h.contentLength > 0 {
		c.body = &h1Body{c: c, remaining: h.contentLength}
		r.Body = c.body
	}
	c.lastPost = h.method == http.MethodPost
	return h1Parsed
}

// serveOne runs the handler on c.req; false: close the connection.
func (c *h1Client) serveOne() bool {
	r := &c.req
	body := c.body
	c.enableGoneWatch()
	if body == nil {
		c.armGoneWatch()
	}
	w := &c.w
	w.reset(r, body)
	c.s.ServeHTTP(w, r) // a panic ends the connection (serveH1's recover)
	c.stopGoneWatch()
	c.served++
	keep := w.finish()
	if body != nil && !body.finish() {
		keep = false
		if w.err == nil {
			// Closing with unread request bytes would reset the
			// connection, and the client could lose the response (often
			// a 413): half-close and give it time to read, as net/http.
			c.lingerClose()
		}
	}
	c.body = nil
	clear(c.header)
	*r = c.blank
	if !keep || c.gone.Load() {
		return false
	}
	c.state.Store(h1Idle)
	return !c.s.h1.closing.Load()
}

// rstAvoidanceDelay is how long a connection closed with unread request
// bytes stays half-closed (net/http's value).
const rstAvoidanceDelay = 500 * time.Millisecond

func (c *h1Client) lingerClose() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		time.Sleep(rstAvoidanceDelay)
	}
}

// handOver gives the connection, with everything read so far, to the
// socket's net/http server.
func (c *h1Client) handOver() {
	b, _ := c.br.Peek(c.br.Buffered())
	if bytes.HasPrefix(b, h2PrefaceLine) && (c.tls != nil || c.served > 0) {
		// HTTP/2 that ALPN did not choose, or h2c after HTTP/1.1
		// requests: net/http would take the handed-over connection for
		// plaintext and start h2c on it. Answer as net/http does on a
		// TLS connection (found in review).
		c.conn.Write(h2NotNegotiated)
		c.conn.Close()
		return
	}
	head := append([]byte(nil), b...)
	c.setReadTimeout(0)
	hc := &handoverConn{replayConn: replayConn{Conn: c.conn, head: head}, tls: c.tls}
	if !c.s.queue.push(hc) {
		c.conn.Close()
	}
}

var (
	h2PrefaceLine   = []byte("PRI * HTTP/2.0\r\n")
	h2NotNegotiated = []byte("HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
)

// handoverConn is a connection the loop gave to net/http. net/http only
// sets Request.TLS for a *tls.Conn; ConnContext carries the state instead.
type handoverConn struct {
	replayConn
	tls *tls.ConnectionState
}

type handoverTLSKey struct{}

// handoverConnContext is the server's ConnContext.
func handoverConnContext(ctx context.Context, c net.Conn) context.Context {
	if h, ok := c.(*handoverConn); ok && h.tls != nil {
		return context.WithValue(ctx, handoverTLSKey{}, h.tls)
	}
	return ctx
}

// handoverTLS is the TLS state of a request on a handed-over connection.
func handoverTLS(r *http.Request) *tls.ConnectionState {
	cs, _ := r.Context().Value(handoverTLSKey{}).(*tls.ConnectionState)
	return cs
}

// setReadTimeout bounds the connection's next reads by d from now (none
// if d is 0), coarsely (deadline.go): up to deadlineSlack(d) later.
func (c *h1Client) setReadTimeout(d time.Duration) {
	var want time.Time
	if d > 0 {
		want = monoNow().Add(d)
	}
	if at, set := c.readDeadline.update(want, deadlineSlack(d)); set {
		c.conn.SetReadDeadline(at)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// add registers a connection; false once the socket is draining.
func (cs *h1Conns) add(c *h1Client) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closing.Load() {
		return false
	}
	if cs.conns == nil {
		cs.conns = map[*h1Client]struct{}{}
	}
	cs.conns[c] = struct{}{}
	cs.wg.Add(1)
	return true
}

func (cs *h1Conns) remove(c *h1Client) {
	cs.mu.Lock()
	delete(cs.conns, c)
	cs.mu.Unlock()
	cs.wg.Done()
}

// shutdown closes the idle connections at once and the busy ones after
// their response; when ctx ends first, it closes them all (their requests'
// contexts are cancelled) and returns ctx's error.
func (cs *h1Conns) shutdown(ctx context.Context) error {
	cs.mu.Lock()
	cs.closing.Store(true)
	for c := range cs.conns {
		if c.state.CompareAndSwap(h1Idle, h1Closed) {
			c.conn.Close()
		}
	}
	cs.mu.Unlock()
	done := make(chan struct{})
	go func() { cs.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	cs.mu.Lock()
	for c := range cs.conns {
		c.cancelRequest()
		c.conn.Close()
	}
	cs.mu.Unlock()
	return ctx.Err()
}
