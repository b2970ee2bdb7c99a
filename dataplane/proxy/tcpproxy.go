package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// proxyTCP connects conn to an endpoint of the chain's weighted clusters and
// copies both ways. Each direction ends with a half-close, so a client that
// shuts down its sending side still gets the rest of the response.
func (p *Proxy) proxyTCP(st *state, l *config.Listener, chain *config.FilterChain, conn net.Conn) {
	defer conn.Close()
	if !p.startTCP(conn) {
		return
	}
	defer p.endTCP(conn)

	wc := chain.TCP.Clusters.Pick(rand.Uint64())
	var u *upstream
	if wc != nil {
		u = st.upstreams[wc.Name]
	}
	if u == nil {
		return
	}
	sess := &tcpSession{start: time.Now(), listener: l.Name, cluster: wc.Name, client: conn.RemoteAddr().String()}
	defer p.logTCP(sess)
	p.metrics.TCPSession(l.Name, wc.Name)
	addr, ok := u.pick()
	if !ok {
		p.log.Debug("tcp proxy: cluster has no endpoints", "listener", l.Name, "cluster", wc.Name)
		sess.flags = "no_healthy_upstream"
		return
	}
	sess.upstream = addr
	up, err := dialUpstream(context.Background(), u, addr)
	if err != nil {
		p.log.Debug("tcp proxy: connect failed", "listener", l.Name, "cluster", wc.Name, "endpoint", addr, "error", err)
		p.metrics.UpstreamConnectError(wc.Name)
		sess.flags = "upstream_connect_error"
		return
	}
	p.trackUpstream(up, true)
	defer p.trackUpstream(up, false)
	defer up.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sess.received = pipe(up, conn)
	}()
	sess.sent = pipe(conn, up)
	wg.Wait()
}

// pipe copies src to dst and half-closes dst. On an error other than EOF
// both ends are closed so the opposite direction stops as well.
func pipe(dst, src net.Conn) (n int64) {
	var err error
	if pc, ok := src.(*prefixConn); ok {
		// Replay the inspected bytes, then copy from the raw connection so
		// that the kernel can splice TCP to TCP.
		if len(pc.prefix) > 0 {
			var w int
			w, err = dst.Write(pc.prefix)
			n += int64(w)
			pc.prefix = nil
		}
		if err == nil {
			var c int64
			c, err = io.Copy(dst, pc.Conn)
			n += c
		}
	} else {
		n, err = io.Copy(dst, src)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		dst.Close()
		src.Close()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return n
		}
	}
	dst.Close()
	return n
}
