package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

// serveHTTP2Guarded makes the socket's server hand its HTTP/2 connections
// (TLS with ALPN h2, and h2c with prior knowledge) to an h2Guard in front of
// golang.org/x/net/http2's server, the code net/http bundles: net/http's
// own HTTP/2 server only accepts a *tls.Conn, which leaves no place to see
// the frames. Everything else stays net/http's: it still accepts the
// connection, detects the preface, tracks the connection for Shutdown
// (ConfigureServer registers the graceful GOAWAY) and takes its HTTP/2
// settings from srv.HTTP2 (Limits.HTTP2Config).
func (s *socket) serveHTTP2Guarded(srv *http.Server) error {
	h2 := &http2.Server{}
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return err
	}
	srv.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		g := newH2Guard(tc, len(h2Preface), s.limits.MaxRequestHeaderBytes, s.floodLogger(tc))
		s.serveH2(h2, hs, h2GuardTLS{g, tc}, h, false)
	}
	// net/http has already read the preface of an h2c connection and passes
	// the plain connection inside a placeholder *tls.Conn.
	srv.TLSNextProto["unencrypted_http2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		u, ok := tc.NetConn().(interface{ UnencryptedNetConn() net.Conn })
		if !ok {
			return // net/http closes the connection when this returns
		}
		c := u.UnencryptedNetConn()
		s.serveH2(h2, hs, newH2Guard(c, 0, s.limits.MaxRequestHeaderBytes, s.floodLogger(c)), h, true)
	}
	return nil
}

func (s *socket) serveH2(h2 *http2.Server, hs *http.Server, c net.Conn, h http.Handler, sawPreface bool) {
	// net/http passes the connection's base context (ConnContext, server
	// and local address keys) through this unexported-by-convention method.
	var ctx context.Context
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		ctx = bc.BaseContext()
	}
	h2.ServeConn(c, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs, SawClientPreface: sawPreface})
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
