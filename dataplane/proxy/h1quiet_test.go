package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/pollready"
)

// TestH1ProbeOnlyWhenThePollerHeardSomething: a pooled upstream connection
// is probed before its reuse unless the runtime's poller heard nothing from
// it while idle and the request is replayable (h1alive.go). With
// hack/netpollfifo's overlay (`make test` runs this package with it too), a
// quiet connection serves GETs without a probe, and bytes sent unasked, a
// FIN, or a request that cannot be replayed bring the probe back; with the
// standard runtime every reuse is probed. Either way the unasked bytes never
// reach a client.
func TestH1ProbeOnlyWhenThePollerHeardSomething(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	p, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b"))), map[string][]string{"b": {addr}})
	pool := p.state.Load().upstreams["b"].pool
	// idle returns the one idle connection once the exchange has put it
	// back (after the client got its response).
	idle := func() *h1Conn {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			pool.mu.Lock()
			var pc *h1Conn
			if ic := pool.idle[addr]; ic != nil && len(ic.list) == 1 {
				pc = ic.list[0]
			}
			pool.mu.Unlock()
			if pc != nil {
				return pc
			}
			if time.Now().After(deadline) {
				t.Fatal("no idle upstream connection")
			}
			time.Sleep(time.Millisecond)
		}
	}
	backendConn := func(i int) net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return conns[i]
	}
	c := client()
	request := func(method, path string) {
		t.Helper()
		if resp, body := get(t, c, method, base+path, nil); resp.StatusCode != 200 || body != "fresh" {
			t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, body)
		}
	}
	// waitNews waits until the poller has what the backend just did to
	// the idle connection; with the standard runtime the probe finds it in
	// the socket, where it is once the backend's loopback write or close
	// returned.
	waitNews := func(pc *h1Conn, what string) {
		t.Helper()
		if !pollready.Available() {
			return
		}
		deadline := time.Now().Add(5 * time.Second)
		for pc.quiet() {
			if time.Now().After(deadline) {
				t.Fatalf("the idle connection still quiet 5 s after %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}

	request("GET", "/first")
	pc := idle()
	if pc.sock == nil {
		t.Fatal("the upstream connection has no socket I/O")
	}
	if got := pc.quiet(); got != pollready.Available() {
		t.Fatalf("after a clean exchange: quiet %v, want %v (the runtime answers: %v)", got, pollready.Available(), pollready.Available())
	}
	const reuses = 5
	for range reuses {
		request("GET", "/again")
		if idle() != pc {
			t.Fatal("the idle connection was replaced")
		}
	}
	want := reuses // the standard runtime: every reuse is probed
	if pollready.Available() {
		want = 0
	}
	if pc.probes.Load() != int32(want) {
		t.Fatalf("%d GETs on a quiet connection made %d probes, want %d", reuses, pc.probes.Load(), want)
	}

	// A request that cannot be replayed is probed on a quiet connection.
	request("POST", "/once")
	if idle() != pc || pc.probes.Load() != int32(want)+1 {
		t.Fatalf("POST: %d probes, want %d", pc.probes.Load(), want+1)
	}

	// Bytes sent unasked: the poller hears of them, the next GET probes,
	// finds them and takes a fresh connection.
	io.WriteString(backendConn(0), "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
	waitNews(pc, "the backend sent bytes unasked")
	before := pc.probes.Load()
	request("GET", "/after-unasked")
	if pc.probes.Load() != before+1 {
		t.Fatalf("GET after unasked bytes: %d probes, want %d", pc.probes.Load(), before+1)
	}
	pc2 := idle()
	if pc2 == pc {
		t.Fatal("the connection with unasked bytes was reused")
	}

	// The backend's FIN likewise.
	backendConn(1).Close()
	waitNews(pc2, "the backend closed the connection")
	request("GET", "/after-fin")
	if pc2.probes.Load() != 1 {
		t.Fatalf("GET after the backend's FIN: %d probes, want 1", pc2.probes.Load())
	}
	if idle() == pc2 {
		t.Fatal("the closed connection was reused")
	}
}

// TestH1PooledTLSConnectionQuiet: a TLS upstream connection (a
// BackendTLSPolicy's, the mesh's mTLS) skips the probe as a plain one does.
// The pool's check for decrypted bytes left in the tls.Conn (tlsDrained, a
// read whose deadline has passed) must not count as a read that left bytes
// in the socket.
func TestH1PooledTLSConnectionQuiet(t *testing.T) {
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fresh")
	}))
	defer backend.Close()
	addr := backendAddr(backend)
	pool := newH1Pool(&net.Dialer{}, &config.Cluster{Protocol: config.UpstreamHTTP1, TLS: &config.UpstreamTLS{Config: &tls.Config{InsecureSkipVerify: true}}})
	defer pool.closeIdle()
	q := h1Request{hcm: &config.HTTPManager{}, rt: &config.Route{Forward: &config.Forward{}}, wc: &config.WeightedCluster{}, target: "/", scheme: "https", r: httptest.NewRequest("GET", "/", nil)}
	// exchange is forwardH1's path for a bodyless GET: the probe (or
	// not), the write and the wait in sendAwait, the response read from
	// pc.br, the connection put back.
	exchange := func() *h1Conn {
		t.Helper()
		pc, err := pool.get(context.Background(), addr, time.Now(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.sendAwait(q, true); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(pc.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "fresh" {
			t.Fatalf("response %q, %v", b, err)
		}
		pool.put(pc)
		return pc
	}
	pc := exchange()
	if _, ok := pc.conn.(*tls.Conn); !ok || pc.sock == nil {
		t.Fatalf("the upstream connection is %T with socket I/O %v, want a TLS connection over sockIO", pc.conn, pc.sock != nil)
	}
	// The first exchanges read what TLS 1.3 sends after its handshake (the
	// server's session tickets), which the poller may report late.
	for range 3 {
		exchange()
	}
	before := pc.probes.Load()
	const reuses = 5
	for range reuses {
		if exchange() != pc {
			t.Fatal("the idle connection was replaced")
		}
	}
	want := int32(reuses)
	if pollready.Available() {
		want = 0
	}
	if got := pc.probes.Load() - before; got != want {
		t.Fatalf("%d GETs on a quiet TLS connection made %d probes, want %d (the runtime answers: %v)", reuses, got, want, pollready.Available())
	}
}

// TestH1NotQuietAfterAFINWithTheLastBytes: a backend that closes the
// connection right after a keep-alive response can have its FIN in the
// socket before the proxy reads the response. The read takes the last
// bytes (short: drained) and the poller's one notification for both, so
// neither drained nor Pending tells of the FIN; the poller's hang-up
// record (pollready.Watch.HungUp) does, and the connection is probed. With
// the standard runtime nothing is known and it is probed anyway.
func TestH1NotQuietAfterAFINWithTheLastBytes(t *testing.T) {
	sc, peer := tcpPair(t)
	pc := &h1Conn{conn: sc}
	pc.initProbe()
	if pc.sock == nil {
		t.Fatal("the connection has no socket I/O")
	}
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
	io.WriteString(peer, resp)
	peer.CloseWrite()
	if pollready.Available() {
		// Loopback: the bytes and the FIN are in the socket once the
		// calls returned. Wait until the poller has taken the events for
		// both, so that the read below takes every notification there is.
		deadline := time.Now().Add(5 * time.Second)
		for !pc.watch.HungUp() {
			if time.Now().After(deadline) {
				t.Fatal("the poller never heard of the FIN")
			}
			time.Sleep(time.Millisecond)
		}
	}
	buf := make([]byte, 256)
	if n, err := sc.Read(buf); n != len(resp) || err != nil || !pc.sock.drained.Load() {
		t.Fatalf("read %d, %v, drained %v; want %d bytes, drained", n, err, pc.sock.drained.Load(), len(resp))
	}
	if pollready.Available() && pc.watch.Pending() {
		t.Fatal("a notification is pending after the read: the FIN came late, and this test proves nothing")
	}
	if pc.quiet() {
		t.Fatal("quiet after a read that took the response's last bytes and the FIN behind them: the request would go out on a closed connection")
	}
	if pc.alive() {
		t.Fatal("the probe found the closed connection alive")
	}
}
