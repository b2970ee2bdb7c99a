package proxy

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// maxDatagram is the largest UDP payload (IPv4: 65507; IPv6 jumbograms are
// not forwarded).
const maxDatagram = 65535

// udpSocket is a bound UDP listener (udp_proxy). Like a TCP socket it
// survives configuration changes that keep its address. Forwarding is per
// session: the first datagram from a client address and port picks an
// endpoint (cluster weights, then the cluster's round-robin), and every
// later datagram of that session goes to the same endpoint from the same
// upstream socket, so replies can be matched back. A session ends after
// the listener's idle_timeout without a datagram in either direction.
type udpSocket struct {
	p    *Proxy
	key  string
	conn *net.UDPConn
	done chan struct{}

	mu       sync.Mutex
	closed   bool
	sessions map[netip.AddrPort]*udpSession
}

type udpSession struct {
	client   netip.AddrPort
	up       *net.UDPConn
	idle     time.Duration
	lastSeen atomic.Int64 // unix nanoseconds of the last datagram either way
}

// bindUDP binds the UDP sockets of listeners that are new in byAddr. On
// error nothing stays bound.
func (p *Proxy) bindUDP(byAddr map[string]*config.Listener) ([]*udpSocket, error) {
	var fresh []*udpSocket
	var failed []error
	for _, key := range slices.Sorted(maps.Keys(byAddr)) {
		l := byAddr[key]
		if l.UDP == nil {
			continue
		}
		if _, ok := p.udp[key]; ok {
			continue
		}
		addr, err := net.ResolveUDPAddr("udp", l.Address)
		var conn *net.UDPConn
		if err == nil {
			conn, err = net.ListenUDP("udp", addr)
		}
		if err != nil {
			failed = append(failed, bindError(l, err))
			continue
		}
		fresh = append(fresh, &udpSocket{p: p, key: key, conn: conn, done: make(chan struct{}), sessions: map[netip.AddrPort]*udpSession{}})
	}
	if len(failed) > 0 {
		for _, f := range fresh {
			f.conn.Close()
		}
		return nil, joinBindErrors(failed)
	}
	return fresh, nil
}

// commitUDP starts the fresh sockets and closes those no longer configured
// (with their sessions). Called with p.mu held, after the state swap.
func (p *Proxy) commitUDP(fresh []*udpSocket, byAddr map[string]*config.Listener) {
	if p.udp == nil {
		p.udp = map[string]*udpSocket{}
	}
	for _, s := range fresh {
		p.udp[s.key] = s
		go s.readLoop()
	}
	for key, s := range p.udp {
		if l, keep := byAddr[key]; !keep || l.UDP == nil {
			delete(p.udp, key)
			s.close()
		}
	}
}

// closeUDP closes every UDP socket (shutdown).
func (p *Proxy) closeUDP() {
	p.mu.Lock()
	socks := slices.Collect(maps.Values(p.udp))
	p.udp = nil
	p.mu.Unlock()
	for _, s := range socks {
		s.close()
	}
}

// udpAddr is the bound address of a UDP listener (nil if none).
func (p *Proxy) udpAddr(key string) net.Addr {
	if s := p.udp[key]; s != nil {
		return s.conn.LocalAddr()
	}
	return nil
}

func (s *udpSocket) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sessions := slices.Collect(maps.Values(s.sessions))
	s.sessions = nil
	s.mu.Unlock()
	s.conn.Close()
	for _, ss := range sessions {
		ss.up.Close()
	}
	<-s.done
}

// readLoop forwards client datagrams to their session's upstream.
func (s *udpSocket) readLoop() {
	defer close(s.done)
	buf := make([]byte, maxDatagram)
	for {
		n, client, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable reported on the socket
		}
		sess := s.session(client)
		if sess == nil {
			continue
		}
		sess.lastSeen.Store(time.Now().UnixNano())
		if _, err := sess.up.Write(buf[:n]); err != nil {
			s.p.log.Debug("udp proxy: forwarding failed", "listener", s.key, "client", client.String(), "error", err)
		}
	}
}

// session returns the client's session, creating it (and picking the
// endpoint) on its first datagram; nil drops the datagram.
func (s *udpSocket) session(client netip.AddrPort) *udpSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if sess := s.sessions[client]; sess != nil {
		return sess
	}
	st := s.p.state.Load()
	l := st.byAddr[s.key]
	if l == nil || l.UDP == nil {
		return nil
	}
	u := st.upstreams[l.UDP.ClusterName]
	if u == nil {
		return nil
	}
	addr, ok := u.pick()
	if !ok {
		s.p.log.Debug("udp proxy: cluster has no endpoints", "listener", l.Name, "cluster", l.UDP.ClusterName)
		return nil
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	var up *net.UDPConn
	if err == nil {
		up, err = net.DialUDP("udp", nil, ua)
	}
	if err != nil {
		s.p.log.Debug("udp proxy: cannot open upstream socket", "listener", l.Name, "endpoint", addr, "error", err)
		return nil
	}
	sess := &udpSession{client: client, up: up, idle: l.UDP.IdleTimeout}
	sess.lastSeen.Store(time.Now().UnixNano())
	s.sessions[client] = sess
	go s.replyLoop(sess)
	return sess
}

// replyLoop returns the upstream's datagrams to the client until the
// session has been idle for its timeout.
func (s *udpSocket) replyLoop(sess *udpSession) {
	defer s.endSession(sess)
	buf := make([]byte, maxDatagram)
	for {
		last := time.Unix(0, sess.lastSeen.Load())
		if time.Since(last) >= sess.idle {
			return
		}
		sess.up.SetReadDeadline(last.Add(sess.idle))
		n, err := sess.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // re-check: the client may have sent meanwhile
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors from the endpoint: keep the session
		}
		sess.lastSeen.Store(time.Now().UnixNano())
		if _, err := s.conn.WriteToUDPAddrPort(buf[:n], sess.client); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (s *udpSocket) endSession(sess *udpSession) {
	sess.up.Close()
	s.mu.Lock()
	if s.sessions != nil && s.sessions[sess.client] == sess {
		delete(s.sessions, sess.client)
	}
	s.mu.Unlock()
}
