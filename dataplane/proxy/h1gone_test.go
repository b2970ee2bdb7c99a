package proxy

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The client-gone watch (h1gone.go) on real loopback sockets.

// A request without a body keeps the head's read deadline while the
// handler runs (h1serve.go next): an upstream slower than the header and
// idle timeouts must still be answered, on the first request of a
// connection (header timeout) and on a later one (idle timeout), and the
// connection must stay usable.
func TestH1LoopSlowUpstreamOutlastsHeadDeadline(t *testing.T) {
	hang, hanging := make(chan struct{}), make(chan struct{}, 1)
	b := loopBackendSignalling(t, hang, hanging)
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b.addr)
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	h := hcm(t, "main")
	const short = 200 * time.Millisecond
	h.RequestHeadersTimeout = durationpb.New(short)
	h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(short)}
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	rc := dialRaw(t, "http://"+p.ListenerAddr("l").String())
	for i := range 2 {
		rc.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		awaitSignal(t, hanging, "the request reaching the backend")
		// Past both timeouts and the watch's delay before the backend
		// answers (a longer wait only makes the test stricter).
		time.Sleep(2*short + clientGoneDelay)
		hang <- struct{}{}
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != "done" || resp.Close {
			t.Fatalf("request %d: %d %q (Connection: close %v)", i, resp.StatusCode, body, resp.Close)
		}
	}
	rc.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the slow requests: %d %q", resp.StatusCode, body)
	}
}

// Arming and stopping the watch around its delay, as handlers finishing
// just before, as and after it fires do, never leaves a read running when
// stopGoneWatch returns: the client's next bytes are all the loop's, and
// the client is not taken for gone. A client that then leaves is seen.
func TestH1GoneWatchArmAndStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &h1Client{conn: server, br: bufio.NewReaderSize(server, h1BufSize), ctx: ctx, cancel: cancel}
	c.watch.done = make(chan struct{}, 1)

	const steps = 24
	for i := range steps {
		c.enableGoneWatch()
		c.armGoneWatch()
		time.Sleep(clientGoneDelay * time.Duration(i) / (steps / 2)) // 0 to twice the delay
		c.stopGoneWatch()
		if c.gone.Load() || ctx.Err() != nil {
			t.Fatalf("step %d: the client was taken for gone", i)
		}
		if _, err := client.Write([]byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
		got, err := c.br.ReadByte()
		if err != nil || got != byte('a'+i) {
			t.Fatalf("step %d: the loop read %q, %v; want %q", i, got, err, byte('a'+i))
		}
	}
	c.enableGoneWatch()
	c.armGoneWatch()
	client.Close()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the client leaving did not cancel the request")
	}
	c.stopGoneWatch()
	if !c.gone.Load() {
		t.Fatal("the client leaving was not recorded")
	}
}

// A client leaving cancels the upstream exchange on both kinds of
// connection: the loop's (its hook, TestH1LoopClientGoneBeforeResponse)
// and one handed over to net/http (context.AfterFunc), here an HTTP/1.0
// request.
//
// The client leaves only once its request reached the backend: leaving
// earlier may (rightly) cancel the request before the proxy dials, and
// then there is no upstream connection to close (a flake seen under
// -race on a loaded machine).
func TestH1ClientGoneOnHandedOverConnection(t *testing.T) {
	addr, arrived, gone := silentBackend(t)
	base := h1Proxy(t, addr, time.Hour) // the route timeout must not be what closes it
	rc := dialRaw(t, base)
	rc.send("GET /hang HTTP/1.0\r\nHost: x\r\n\r\n")
	awaitSignal(t, arrived, "the request reaching the backend")
	rc.c.Close()
	awaitSignal(t, gone, "the proxy closing its upstream connection")
}

// The hook behaves as context.AfterFunc: it runs once when the request is
// cancelled, at once when it is already, and not after it was stopped.
func TestH1ClientWatchHook(t *testing.T) {
	newClient := func() *h1Client {
		ctx, cancel := context.WithCancel(context.Background())
		c := &h1Client{cancel: cancel}
		c.ctx = context.WithValue(ctx, h1ClientKey{}, c)
		return c
	}
	var ran int
	abort := func() { ran++ }

	c := newClient()
	w := watchClient(c.ctx, abort)
	if w.c != c {
		t.Fatal("the loop connection's context did not get the connection's hook")
	}
	c.cancelRequest()
	c.cancelRequest()
	if ran != 1 || w.done() {
		t.Fatalf("cancelled: abort ran %d times, done reported it had not run", ran)
	}

	ran = 0
	c = newClient()
	w = watchClient(c.ctx, abort)
	if !w.done() || w.done() {
		t.Fatal("done before the cancellation: want true, then false")
	}
	c.cancelRequest()
	if ran != 0 {
		t.Fatal("abort ran after the watch was done")
	}

	ran = 0
	w = watchClient(c.ctx, abort) // already cancelled
	if stopped := w.done(); ran != 1 || stopped {
		t.Fatalf("watch of a cancelled request: abort ran %d times, done reported %v", ran, stopped)
	}

	// A context derived from the connection's gets context.AfterFunc.
	c = newClient()
	derived, cancel := context.WithCancel(c.ctx)
	w = watchClient(derived, func() {})
	cancel()
	if w.c != nil || w.done() {
		t.Fatal("a derived context must be watched with context.AfterFunc")
	}
}
