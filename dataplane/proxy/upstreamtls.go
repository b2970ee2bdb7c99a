package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"

	"github.com/edgeway/edgeway/dataplane/config"
)

// applyUpstreamTLS makes a cluster's pool originate TLS (BackendTLSPolicy):
// the compiled client config verifies the chain against the cluster's CA
// bundle (or the system roots) and one of the subject alt names, sends the
// SNI and presents the client certificate. Kept apart from newTransport so
// that the HTTP version settings and the TLS settings stay independent.
// The pool is keyed by the TLS fingerprint (clusterTransport.tlsKey): a
// rotated CA or client certificate gets a fresh pool, while connections
// already established finish on the old one.
func applyUpstreamTLS(t *http.Transport, c *config.Cluster) {
	if c.TLS == nil {
		return
	}
	t.TLSClientConfig = c.TLS.Config.Clone()
	if h2OverOwnTLS(c) {
		// The offered protocols are not "h2" (an Istio sidecar wants
		// "istio-h2"), so net/http would fall back to HTTP/1.1 on the
		// negotiated result. Envoy speaks the cluster's protocol whatever
		// ALPN negotiates: do the same by handshaking in DialContext and
		// letting the pool speak HTTP/2 with prior knowledge (scheme http,
		// see upstreamScheme) over the TLS connection.
		dial := t.DialContext
		cfg := t.TLSClientConfig
		timeout := c.ConnectTimeout
		t.TLSClientConfig = nil
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, cfg.Clone())
			hctx := ctx
			if timeout > 0 {
				// The handshake is part of connecting (as in dialUpstream).
				var cancel context.CancelFunc
				hctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if err := tc.HandshakeContext(hctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		}
		return
	}
	if c.Protocol == config.UpstreamHTTP2 {
		// HTTP/2 over TLS, negotiated by ALPN.
		p := new(http.Protocols)
		p.SetHTTP2(true)
		t.Protocols = p
		t.TLSNextProto = nil
		t.TLSClientConfig.NextProtos = []string{"h2"}
	}
}

// upstreamScheme is the URL scheme of requests to u: https selects the
// pool's TLS dialing.
func upstreamScheme(u *upstream) string {
	if u.cluster.TLS != nil && !h2OverOwnTLS(u.cluster) {
		return "https"
	}
	return "http"
}

// dialUpstream connects a proxied stream (tcp_proxy) to addr, with TLS when
// the cluster originates it; the handshake completes before any byte of the
// client is forwarded, so a backend failing verification is never sent data.
func dialUpstream(ctx context.Context, u *upstream, addr string) (net.Conn, error) {
	c, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The copy loop's small exchanges read and write it (tcpcopy.go); its
	// bulk copies still find the TCP connection to splice.
	c = withSockIO(c)
	if u.cluster.TLS == nil {
		return c, nil
	}
	tc := tls.Client(c, u.cluster.TLS.Config.Clone())
	hctx, cancel := context.WithTimeout(ctx, u.cluster.ConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
	}
	return tc, nil
}

// h2OverOwnTLS: an HTTP/2 TLS cluster whose ALPN list lacks "h2" (see
// applyUpstreamTLS).
func h2OverOwnTLS(c *config.Cluster) bool {
	return c.TLS != nil && c.Protocol == config.UpstreamHTTP2 && len(c.TLS.ALPN) > 0 && !slices.Contains(c.TLS.ALPN, "h2")
}
