package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"

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
	addr, ok := u.pick()
	if !ok {
		p.log.Debug("tcp proxy: cluster has no endpoints", "listener", l.Name, "cluster", wc.Name)
		return
	}
	up, err := dialUpstream(context.Background(), u, addr)
	if err != nil {
		p.log.Debug("tcp proxy: connect failed", "listener", l.Name, "cluster", wc.Name, "endpoint", addr, "error", err)
		return
	}
	p.trackUpstream(up, true)
	defer p.trackUpstream(up, false)
	defer up.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipe(up, conn)
	}()
	pipe(conn, up)
	wg.Wait()
}

// pipe copies src to dst and half-closes dst. On an error other than EOF
// both ends are closed so the opposite direction stops as well.
func pipe(dst, src net.Conn) {
	var err error
	if pc, ok := src.(*prefixConn); ok {
		// Replay the inspected bytes, then copy from the raw connection so
		// that the kernel can splice TCP to TCP.
		if len(pc.prefix) > 0 {
			_, err = dst.Write(pc.prefix)
			pc.prefix = nil
		}
		if err == nil {
			_, err = io.Copy(dst, pc.Conn)
		}
	} else {
		_, err = io.Copy(dst, src)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
}
