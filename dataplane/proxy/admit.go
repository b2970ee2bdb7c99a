package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// admit is the first thing done with an accepted connection: the socket's
// connection limit, the connection metrics and, when the listener has the
// proxy_protocol filter, the PROXY header (within inspectTimeout, so a
// client that sends nothing cannot hold the slot). The returned connection
// releases everything when closed; nil means c was refused and closed.
func (s *socket) admit(l *config.Listener, c net.Conn) *downstreamConn {
	m := s.p.metrics
	if !s.conns.acquire(s.limits.MaxConnections) {
		m.ConnRejected(l.Name, "connection_limit")
		c.Close()
		return nil
	}
	m.ConnOpened(l.Name)
	name := l.Name
	dc := &downstreamConn{Conn: c, sock: newSockIO(c), onClose: func() {
		s.conns.release()
		m.ConnClosed(name)
	}}
	if l.ProxyProtocol {
		c.SetReadDeadline(time.Now().Add(inspectTimeout))
		src, err := readProxyHeader(c)
		if err != nil {
			s.p.log.Debug("closing connection", "listener", l.Name, "peer", c.RemoteAddr().String(), "error", err)
			m.ConnRejected(l.Name, "proxy_protocol")
			dc.Close()
			return nil
		}
		c.SetReadDeadline(time.Time{})
		dc.remote = src
	}
	return dc
}

// admitChain applies the chain's connection_limit. The slot is released
// when dc closes.
func (s *socket) admitChain(l *config.Listener, chain *config.FilterChain, dc *downstreamConn) bool {
	if chain.MaxConnections == 0 {
		return true
	}
	cc := s.chains.get(chain.Name)
	if !cc.acquire(int64(chain.MaxConnections)) {
		s.p.metrics.ConnRejected(l.Name, "connection_limit")
		return false
	}
	prev := dc.onClose
	dc.onClose = func() { cc.release(); prev() }
	return true
}

// handshake completes a terminating chain's TLS handshake, in its turn
// (handshaketurn.go), before the connection is served, bounded by
// inspectTimeout, and counts the result. net/http and the TCP proxy then
// find it done. nil means it failed and the connection is closed.
func (s *socket) handshake(l *config.Listener, conn net.Conn, cfg *tls.Config) *tls.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
	defer cancel()
	s.p.turns.take()
	turn := &turnConn{Conn: conn, turns: s.p.turns}
	defer turn.release()
	tc := tls.Server(turn, cfg)
	err := tc.HandshakeContext(ctx)
	s.p.metrics.TLSHandshake(l.Name, err == nil)
	if err != nil {
		s.p.log.Debug("TLS handshake failed", "listener", l.Name, "remote", tc.RemoteAddr().String(), "error", err)
		tc.Close()
		return nil
	}
	return tc
}
