package proxy

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A client that resets its HTTP/2 stream while the upstream has not
// answered ends the upstream exchange: the stream's close runs the abort
// the exchange registered with it (h2srvctx.go), and the proxy closes its
// upstream connection. The backend never answers, so only the abort can
// close it in time.
func TestH2StreamResetAbortsUpstream(t *testing.T) {
	addr, arrived, gone := silentBackend(t)
	// A route timeout beyond awaitSignal's bound: it must not be what
	// closes the upstream connection.
	base := h1Proxy(t, addr, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/hang", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := h2cClient().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	awaitSignal(t, arrived, "the request reaching the backend")
	cancel() // the client sends RST_STREAM(CANCEL)
	<-done
	awaitSignal(t, gone, "the proxy closing its upstream connection")
}

// A request that completes leaves no abort behind: the upstream
// connection is pooled and serves the connection's next streams.
func TestH2StreamCompletedKeepsUpstream(t *testing.T) {
	b := loopBackend(t, nil)
	base := h1Proxy(t, b.addr, 0)
	c := h2cClient()
	for range 3 {
		resp, body := get(t, c, "GET", base+"/small", nil)
		if resp.StatusCode != 200 || body != "ok" || resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d %d %q, want HTTP/2 200 ok", resp.ProtoMajor, resp.StatusCode, body)
		}
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("backend accepted %d connections, want 1 (reused)", n)
	}
}

// A request's context (h2Ctx, h2srvctx.go): open, then cancelled by the
// close of the stream it is bound to, with what derives from it; a
// stream's close after unbind leaves it open, and binding it to a stream
// closed already cancels it.
func TestH2RequestContextCancelsWithTheStream(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "conn")
	c := &h2Conn{baseCtx: base}
	ctx := &h2Ctx{c: c}
	st := &h2Stream{c: c}
	st.bind(ctx)
	if ctx.stream() != st {
		t.Fatal("the bound context does not name its stream")
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err of an open stream's context = %v", err)
	}
	if v := ctx.Value(key{}); v != "conn" {
		t.Errorf("Value = %v, want the connection context's", v)
	}
	child, cancelChild := context.WithTimeout(ctx, time.Hour)
	defer cancelChild()
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	stopped := false
	stop := context.AfterFunc(ctx, func() { stopped = true })
	if !stop() {
		t.Error("stop of a pending AfterFunc = false")
	}
	select {
	case <-ctx.Done():
		t.Fatal("Done closed before the stream closed")
	default:
	}

	st.cancelAndAbort()

	<-ctx.Done()
	if err := ctx.Err(); err != context.Canceled {
		t.Errorf("Err = %v, want Canceled", err)
	}
	if err := context.Cause(ctx); err != context.Canceled {
		t.Errorf("Cause = %v, want Canceled", err)
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the request's was not cancelled with it")
	}
	if err := child.Err(); err != context.Canceled {
		t.Errorf("derived Err = %v, want Canceled", err)
	}
	awaitSignal(t, ran, "context.AfterFunc's function")
	if stopped {
		t.Error("a stopped AfterFunc ran")
	}
	// After the close, new registrations run at once and Done is closed.
	late := make(chan struct{})
	if context.AfterFunc(ctx, func() { close(late) })() {
		t.Error("stop after the close = true")
	}
	awaitSignal(t, late, "an AfterFunc registered after the close")
	st.unbind()
	if ctx.stream() != nil || ctx.Err() != context.Canceled {
		t.Errorf("after unbind: stream %v, Err %v; want none, still Canceled", ctx.stream(), ctx.Err())
	}

	// A stream that closes after its handler returned (unbind) leaves the
	// context open for the goroutine's next stream.
	kept := &h2Ctx{c: c}
	st2 := &h2Stream{c: c}
	st2.bind(kept)
	st2.unbind()
	st2.cancelAndAbort()
	if err := kept.Err(); err != nil {
		t.Errorf("a stream's close after unbind cancelled the context: %v", err)
	}
	// Bound to a stream reset while it waited for a handler: cancelled at once.
	st3 := &h2Stream{c: c}
	st3.cancelAndAbort()
	st3.bind(kept)
	<-kept.Done()
	fresh := &h2Ctx{c: c}
	fresh.cancel()
	<-fresh.Done() // made after the cancel: closed already
}

// A connection whose context ends while it is served is closed, and with
// it every stream: the handler's request context is cancelled.
func TestH2ConnectionContextEndClosesStreams(t *testing.T) {
	started := make(chan context.Context, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.Context()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, ended := h2ServeOneCtx(t, newH2Server(DefaultLimits(), log.New(io.Discard, "", 0)), h, ctx)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	go io.Copy(io.Discard, c)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82, 0x86, 0x84}, EndHeaders: true, EndStream: true}) // GET http /
	var rctx context.Context
	select {
	case rctx = <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not start")
	}
	cancel()
	select {
	case <-rctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the request context outlived the connection's")
	}
	awaitSignal(t, ended, "the connection's end")
}

// Over a connection: a handler goroutine serves its next stream with the
// same request and context (h2Worker) while no stream was reset under it;
// a reset cancels that request's context for good (a context retained
// past its handler reads Canceled ever after) and the next stream gets a
// new, open one. The requests go one at a time, so one goroutine serves
// them, unless a request arrives before the goroutine is idle again.
func TestH2RequestContextAcrossStreams(t *testing.T) {
	type seen struct {
		ctx context.Context
		req *http.Request
		err error
	}
	got := make(chan seen, 1)
	waiting := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{ctx: r.Context(), req: r}
		if r.URL.Path == "/reset" {
			waiting <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
		s.err = r.Context().Err()
		got <- s
	})
	addr, _ := h2ServeOne(t, newH2Server(DefaultLimits(), log.New(io.Discard, "", 0)), h)
	c := h2cClient()
	get := func(path string) seen {
		t.Helper()
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-got
	}
	// Whether a stream finds the goroutine idle is a race: the client
	// sees the response end, and may send the next request, before the
	// goroutine has parked. So the test asks for reuse within a run of
	// requests, not on the second: without reuse none would share.
	prev, reused := get("/a"), false
	for i := 0; i < 50 && !reused; i++ {
		next := get("/b")
		if prev.err != nil || next.err != nil {
			t.Fatalf("handlers saw cancelled contexts: %v, %v", prev.err, next.err)
		}
		reused = next.ctx == prev.ctx && next.req == prev.req
		prev = next
	}
	if !reused {
		t.Fatal("no stream of 51, one after another, was served with the one before's request and context: nothing is reused")
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/reset", nil)
	go func() {
		// Once the handler runs: cancelled earlier, the client would
		// send nothing and no handler would answer.
		<-waiting
		cancel() // RST_STREAM(CANCEL) while the handler waits
	}()
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	reset := <-got
	if reset.err != context.Canceled {
		t.Fatalf("the reset stream's handler saw Err %v, want Canceled", reset.err)
	}

	after := get("/after")
	if after.err != nil {
		t.Errorf("the stream after a reset was served with a cancelled context: %v", after.err)
	}
	if after.ctx == reset.ctx {
		t.Error("the stream after a reset got the reset one's context")
	}
	if err := reset.ctx.Err(); err != context.Canceled {
		t.Errorf("the reset request's context reads %v after the next stream, want Canceled for good", err)
	}
}
