package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
)

// serveHTTP2Guarded makes the socket's server hand its HTTP/2 connections
// (TLS with ALPN h2, and h2c with prior knowledge) to the data plane's own
// HTTP/2 server (h2srv*.go) behind an h2Guard: net/http's own HTTP/2
// server only accepts a *tls.Conn, which leaves no place to see the
// frames, and it costs a goroutine and channel round trip per frame and a
// write per frame (bench/go/PROFILE.md, "HTTP/2 to the proxy"). net/http
// still accepts the connection, detects the h2c preface and tracks the
// connection for Shutdown, which sends every HTTP/2 connection a graceful
// GOAWAY (RegisterOnShutdown) and waits for them to end.
func (s *socket) serveHTTP2Guarded(srv *http.Server) error {
	h2 := newH2Server(s.limits, srv.ErrorLog)
	srv.RegisterOnShutdown(h2.shutdown)
	if srv.TLSNextProto == nil {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	srv.TLSNextProto["h2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		g := newH2Guard(tc, len(h2Preface), s.limits.MaxRequestHeaderBytes, s.floodLogger(tc))
		cs := tc.ConnectionState()
		h2.serveConn(h2GuardTLS{g, tc}, &cs, baseContext(h), h, false)
	}
	// net/http has already read the preface of an h2c connection and passes
	// the plain connection inside a placeholder *tls.Conn.
	srv.TLSNextProto["unencrypted_http2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		u, ok := tc.NetConn().(interface{ UnencryptedNetConn() net.Conn })
		if !ok {
			return // net/http closes the connection when this returns
		}
		c := u.UnencryptedNetConn()
		h2.serveConn(newH2Guard(c, 0, s.limits.MaxRequestHeaderBytes, s.floodLogger(c)), nil, baseContext(h), h, true)
	}
	return nil
}

// baseContext is the connection's base context (ConnContext, server and
// local address keys), which net/http passes through this
// unexported-by-convention method of its TLSNextProto handler.
func baseContext(h http.Handler) context.Context {
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		return bc.BaseContext()
	}
	return context.Background()
}

// floodLogger reports a connection closed by an h2Guard.
func (s *socket) floodLogger(c net.Conn) func(string) {
	return func(reason string) {
		name := s.addr
		if l := s.p.state.Load().byAddr[s.addr]; l != nil {
			name = l.Name
		}
		s.p.log.Info("closing HTTP/2 connection", "listener", name, "remote", c.RemoteAddr().String(), "reason", reason)
		s.p.metrics.ConnRejected(name, "http2_flood")
	}
}
