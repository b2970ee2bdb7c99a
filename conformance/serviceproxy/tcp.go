package serviceproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialTimeout bounds one connection attempt to one endpoint. A refused
// connection fails at once; this is for an endpoint whose pod is gone (no
// ARP answer on the bridge): the next endpoint is tried after it.
const dialTimeout = 3 * time.Second

// tcpListener serves one Service port on one address over TCP. It owns the
// connections it accepted: close ends them too.
type tcpListener struct {
	ln     *net.TCPListener
	bal    *balancer
	dialer net.Dialer
	log    *slog.Logger
	ctx    context.Context // ends at close: aborts dials
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func listenTCP(addr netip.AddrPort, bal *balancer, source netip.Addr, log *slog.Logger) (*tcpListener, error) {
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	l := &tcpListener{
		ln:  ln,
		bal: bal,
		dialer: net.Dialer{
			LocalAddr: &net.TCPAddr{IP: source.AsSlice()},
			Timeout:   dialTimeout,
			Control:   bindAddressNoPort,
		},
		log:   log,
		conns: map[*net.TCPConn]struct{}{},
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// bindAddressNoPort lets the kernel choose the source port at connect time
// rather than at bind time, so that binding to the gateway address does not
// limit the proxy to one connection per ephemeral port across all endpoints.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

func (l *tcpListener) serve() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.isClosed() {
				return
			}
			// Out of file descriptors, say: wait a little, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed", "err", err, "retryIn", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !l.track(c) {
			c.Close()
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.untrack(c)
			l.handle(c)
		}()
	}
}

// handle connects client to an endpoint and copies between them.
func (l *tcpListener) handle(client *net.TCPConn) {
	clientIP := client.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	var backend *net.TCPConn
	for _, ep := range l.bal.candidates(clientIP) {
		c, err := l.dialer.DialContext(l.ctx, "tcp4", ep.String())
		if err != nil {
			if l.ctx.Err() != nil {
				break
			}
			l.log.Warn("endpoint refused a connection; trying the next", "endpoint", ep, "err", err)
			continue
		}
		backend = c.(*net.TCPConn)
		l.bal.used(clientIP, ep)
		break
	}
	if backend == nil {
		// No endpoint (or none answered): reset at once, never leave the
		// client waiting.
		reset(client)
		return
	}
	if !l.track(backend) {
		backend.Close()
		reset(client)
		return
	}
	defer l.untrack(backend)
	pipe(client, backend)
}

// pipe copies both ways until both directions are done. A direction that
// ends with EOF is passed on as a half-close (the peer may still answer); one
// that ends with an error (a reset) resets both connections.
func pipe(a, b *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		copyHalf(b, a)
		close(done)
	}()
	copyHalf(a, b)
	<-done
	a.Close()
	b.Close()
}

func copyHalf(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil {
		reset(dst)
		reset(src)
		return
	}
	if err := dst.CloseWrite(); err != nil {
		reset(src)
	}
}

// reset closes c with a TCP RST instead of a FIN.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

func (l *tcpListener) track(c *net.TCPConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *tcpListener) untrack(c *net.TCPConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *tcpListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close stops accepting, resets every connection and waits for the
// goroutines.
func (l *tcpListener) close() {
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		reset(c)
	}
	l.mu.Unlock()
	l.cancel()
	l.ln.Close()
	l.wg.Wait()
}
