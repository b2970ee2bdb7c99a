package serviceproxy

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// udpIdleTimeout ends a UDP session (a client address's socket to its
// endpoint) after this long without a datagram either way: the value of the
// kernel's nf_conntrack_udp_timeout, which bounds the same flow under
// kube-proxy's iptables mode.
const udpIdleTimeout = 30 * time.Second

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// udpListener serves one Service port on one address over UDP. Each client
// address gets a session: a socket of its own, bound to the gateway address
// and connected to the endpoint chosen for it; replies go back to the
// client from the listener's socket, so they come from the Service address.
type udpListener struct {
	conn   *net.UDPConn
	bal    *balancer
	source netip.Addr
	log    *slog.Logger

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
	closed   bool
	wg       sync.WaitGroup
}

type udpSession struct {
	client   netip.AddrPort
	endpoint netip.AddrPort
	conn     *net.UDPConn
	lastUsed atomic.Int64 // unix nanoseconds
}

func (s *udpSession) touch() { s.lastUsed.Store(time.Now().UnixNano()) }

func (s *udpSession) idle() time.Duration {
	return time.Since(time.Unix(0, s.lastUsed.Load()))
}

func listenUDP(addr netip.AddrPort, bal *balancer, source netip.Addr, log *slog.Logger) (*udpListener, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	l := &udpListener{conn: c, bal: bal, source: source, log: log, sessions: map[netip.AddrPort]*udpSession{}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *udpListener) serve() {
	defer l.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, client, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error from an earlier reply, say
		}
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		s := l.session(client)
		if s == nil {
			// No endpoint: the datagram is dropped (kube-proxy rejects it
			// with ICMP, which a userspace proxy cannot send).
			continue
		}
		s.touch()
		if _, err := s.conn.Write(buf[:n]); err != nil {
			// The endpoint refused an earlier datagram (ICMP port
			// unreachable): end the session; the next datagram picks
			// another endpoint.
			l.log.Warn("UDP endpoint refused a datagram; the client's next one goes to another", "endpoint", s.endpoint, "client", client, "err", err)
			l.end(s)
		}
	}
}

// session returns client's session, starting one with the next endpoint
// when it has none or its endpoint is gone; nil when there is no endpoint.
func (l *udpListener) session(client netip.AddrPort) *udpSession {
	l.mu.Lock()
	s := l.sessions[client]
	l.mu.Unlock()
	if s != nil && l.bal.has(s.endpoint) {
		return s
	}
	if s != nil {
		l.end(s)
	}
	for _, ep := range l.bal.candidates(client.Addr()) {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.source, 0)), net.UDPAddrFromAddrPort(ep))
		if err != nil {
			l.log.Warn("UDP socket to endpoint failed; trying the next", "endpoint", ep, "err", err)
			continue
		}
		s = &udpSession{client: client, endpoint: ep, conn: c}
		s.touch()
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return nil
		}
		l.sessions[client] = s
		l.wg.Add(1)
		l.mu.Unlock()
		l.bal.used(client.Addr(), ep)
		go l.replies(s)
		return s
	}
	return nil
}

// replies sends the endpoint's datagrams back to the client until the
// session is idle for udpIdleTimeout or ended.
func (l *udpListener) replies(s *udpSession) {
	defer l.wg.Done()
	defer l.end(s)
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return
	}
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(udpIdleTimeout - s.idle()))
		buf, n, err := readPooled(rc)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && s.idle() < udpIdleTimeout {
				continue // the client sent meanwhile
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				l.log.Warn("UDP endpoint refused a datagram; the client's next one goes to another", "endpoint", s.endpoint, "client", s.client)
			}
			return
		}
		s.touch()
		_, err = l.conn.WriteToUDPAddrPort((*buf)[:n], s.client)
		datagrams.Put(buf)
		if err != nil && l.isClosed() {
			return
		}
	}
}

// datagrams pools receive buffers. A session takes one only once a reply
// has arrived, not while it waits: a DNS Service has a session per query
// (each from its own port), thousands of them idle at a time.
var datagrams = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// readPooled waits (within the connection's read deadline) until a datagram
// is there and reads it into a buffer from datagrams, which the caller puts
// back.
func readPooled(rc syscall.RawConn) (*[]byte, int, error) {
	var buf *[]byte
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		b := datagrams.Get().(*[]byte)
		n, rerr = unix.Read(int(fd), *b)
		if rerr == unix.EAGAIN || rerr == unix.EINTR {
			datagrams.Put(b)
			return false // wait for the next one
		}
		if rerr != nil {
			datagrams.Put(b)
			return true
		}
		buf = b
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	if rerr != nil {
		return nil, 0, os.NewSyscallError("read", rerr)
	}
	return buf, n, nil
}

// end closes s and forgets it (if it still is its client's session).
func (l *udpListener) end(s *udpSession) {
	l.mu.Lock()
	if l.sessions[s.client] == s {
		delete(l.sessions, s.client)
	}
	l.mu.Unlock()
	s.conn.Close()
}

func (l *udpListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close stops serving, ends every session and waits for the goroutines.
func (l *udpListener) close() {
	l.mu.Lock()
	l.closed = true
	for _, s := range l.sessions {
		s.conn.Close()
	}
	l.mu.Unlock()
	l.conn.Close()
	l.wg.Wait()
}
