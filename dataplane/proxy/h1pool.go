package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/pollready"
)

// h1Pool keeps the idle keep-alive connections of one HTTP/1.1 cluster,
// per endpoint address, for the exchange of h1exchange.go. It replaces
// what http.Transport did for these clusters with the same settings
// (newTransport): at most maxIdlePerEndpoint idle connections per endpoint,
// closed after idleConnTimeout, dialed with the cluster's dialer (its
// connect timeout) and, with upstream TLS, handshaken with the cluster's
// client config. An idle connection has no goroutine: nothing reads it
// until the next request takes it, which is why every request probes a
// reused one before writing on it (h1alive.go).
type h1Pool struct {
	dialer *net.Dialer
	tls    *tls.Config // nil: plaintext; cloned per connection
	// connectTimeout bounds the TLS handshake too (as dialUpstream).
	connectTimeout time.Duration

	mu     sync.Mutex
	idle   map[string]*idleConns // by endpoint address
	reaper *time.Timer           // armed while any connection is idle
}

// idleConns are one endpoint's idle connections, most recently used last.
// The map holds a pointer so that taking and returning a connection look
// the address up once and do not store into the map.
type idleConns struct{ list []*h1Conn }

const (
	maxIdlePerEndpoint = 256              // Transport's MaxIdleConnsPerHost
	idleConnTimeout    = 90 * time.Second // Transport's IdleConnTimeout
	h1ReadBufferSize   = 8 << 10
	h1WriteBufferSize  = 4 << 10
)

// newH1Pool returns the pool of an HTTP/1.1 cluster, nil for HTTP/2
// clusters (they stay on http.Transport).
func newH1Pool(d *net.Dialer, c *config.Cluster) *h1Pool {
	if c.Protocol != config.UpstreamHTTP1 {
		return nil
	}
	p := &h1Pool{dialer: d, connectTimeout: c.ConnectTimeout, idle: map[string]*idleConns{}}
	if c.TLS != nil {
		p.tls = c.TLS.Config.Clone()
	}
	return p
}

// h1Conn is one upstream connection with its buffers.
type h1Conn struct {
	addr       string
	conn       net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	idleSince  time.Time
	reused     bool               // it served an earlier request (it may have gone stale)
	closeAfter bool               // the request write failed: never pooled again
	abort      func()             // cuts the exchange: the client went away
	raw        syscall.RawConn    // the socket, for the probe (h1alive.go); nil: none
	sock       *sockIO            // its reads, which say whether the last one drained it (h1alive.go quiet); nil: none
	watch      pollready.Watch    // what the runtime's poller heard from it while idle (h1alive.go quiet)
	probes     atomic.Int32       // probes made on it (h1alive.go), for the tests: read while it is in use
	awaitFn    func(uintptr) bool // pc.awaitStep, made once
	await      awaitState         // the sendAwait in progress
	deadline   coarseDeadline     // a route timeout's deadline on conn (h1exchange.go)
	scratch    []byte             // response head bytes, reused (h1head.go)
	long       []byte             // a response head line longer than br's buffer
	lastBlock  string             // the last head's names and values, shared when the next is the same (h1head.go)
	lastVals   []string           // the values array made from lastBlock, shared with it; never written
	lastSpans  []fieldSpan        // where lastVals cut lastBlock
}

// get returns an idle connection to addr or dials one. The caller probes
// a reused connection before it writes (h1alive.go): one the backend
// closed, or sent bytes on unasked, is closed and another one taken.
// now is the request's start, which the idle time is measured to;
// deadline (zero: none) bounds the dial as the route timeout.
func (p *h1Pool) get(ctx context.Context, addr string, now, deadline time.Time) (*h1Conn, error) {
	for {
		p.mu.Lock()
		ic := p.idle[addr]
		if ic == nil || len(ic.list) == 0 {
			p.mu.Unlock()
			break
		}
		pc := ic.list[len(ic.list)-1]
		ic.list[len(ic.list)-1] = nil
		ic.list = ic.list[:len(ic.list)-1]
		p.mu.Unlock()
		if now.Sub(pc.idleSince) >= idleConnTimeout {
			pc.conn.Close()
			continue
		}
		return pc, nil
	}
	return p.dial(ctx, addr, deadline)
}

func (p *h1Pool) dial(ctx context.Context, addr string, deadline time.Time) (*h1Conn, error) {
	d := p.dialer
	if !deadline.IsZero() {
		dd := *p.dialer // dialing is rare next to reuse: the copy is cheap enough
		dd.Deadline = deadline
		d = &dd
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c = withSockIO(c)
	if p.tls != nil {
		cfg := p.tls.Clone()
		if cfg.ServerName == "" {
			// What http.Transport sends when the cluster names no SNI.
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, cfg)
		hdeadline := deadline
		if p.connectTimeout > 0 {
			if t := time.Now().Add(p.connectTimeout); hdeadline.IsZero() || t.Before(hdeadline) {
				hdeadline = t
			}
		}
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if !hdeadline.IsZero() {
			hctx, cancel = context.WithDeadline(ctx, hdeadline)
		}
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			// Not a dial error: as with http.Transport, a backend that
			// fails TLS verification is a 502, not a connect failure.
			return nil, err
		}
		c = tc
	}
	pc := &h1Conn{addr: addr, conn: c, br: bufio.NewReaderSize(c, h1ReadBufferSize), bw: bufio.NewWriterSize(c, h1WriteBufferSize)}
	pc.abort = func() { c.SetDeadline(aLongTimeAgo) }
	pc.initProbe()
	return pc, nil
}

// aLongTimeAgo is a deadline in the past: it fails blocked reads and writes at once.
var aLongTimeAgo = time.Unix(1, 0)

// put returns a connection whose exchange completed cleanly.
func (p *h1Pool) put(pc *h1Conn) {
	if pc.br.Buffered() > 0 || !tlsDrained(pc.conn) {
		// Bytes after the response: the connection is out of step.
		pc.conn.Close()
		return
	}
	if _, ok := pc.conn.(*tls.Conn); ok {
		pc.deadline.forget() // tlsDrained cleared the read deadline
	}
	pc.reused = true
	pc.idleSince = monoNow()
	p.mu.Lock()
	ic := p.idle[pc.addr]
	if ic == nil {
		ic = &idleConns{}
		p.idle[pc.addr] = ic
	}
	if len(ic.list) >= maxIdlePerEndpoint {
		p.mu.Unlock()
		pc.conn.Close()
		return
	}
	ic.list = append(ic.list, pc)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(idleConnTimeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the connections idle for idleConnTimeout and re-arms itself
// while others remain.
func (p *h1Pool) reap() {
	cutoff := monoNow().Add(-idleConnTimeout)
	var expired []*h1Conn
	var oldest time.Time
	p.mu.Lock()
	for addr, ic := range p.idle {
		list := ic.list
		keep := list[:0]
		for _, pc := range list {
			if pc.idleSince.Before(cutoff) {
				expired = append(expired, pc)
				continue
			}
			if oldest.IsZero() || pc.idleSince.Before(oldest) {
				oldest = pc.idleSince
			}
			keep = append(keep, pc)
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			ic.list = keep
		}
	}
	if oldest.IsZero() {
		p.reaper = nil
	} else {
		p.reaper.Reset(time.Until(oldest.Add(idleConnTimeout)))
	}
	p.mu.Unlock()
	for _, pc := range expired {
		pc.conn.Close()
	}
}

// closeIdle closes every idle connection (cluster removed or its pool
// settings changed, shutdown); connections in use finish their exchange.
func (p *h1Pool) closeIdle() {
	if p == nil {
		return
	}
	p.mu.Lock()
	idle := p.idle
	p.idle = map[string]*idleConns{}
	p.mu.Unlock()
	for _, ic := range idle {
		for _, pc := range ic.list {
			pc.conn.Close()
		}
	}
}
