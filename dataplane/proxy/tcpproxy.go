package proxy

import (
	"context"
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
