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

// The stream's own context (h2srvctx.go): open, then cancelled by the
// stream's close, with what derives from it.
func TestH2StreamContextCancelsWithTheStream(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "conn")
	st := &h2Stream{c: &h2Conn{baseCtx: base}}
	if err := st.Err(); err != nil {
		t.Fatalf("Err of an open stream = %v", err)
	}
	if v := st.Value(key{}); v != "conn" {
		t.Errorf("Value = %v, want the connection context's", v)
	}
	child, cancelChild := context.WithTimeout(st, time.Hour)
	defer cancelChild()
	ran := make(chan struct{})
	context.AfterFunc(st, func() { close(ran) })
	stopped := false
	stop := context.AfterFunc(st, func() { stopped = true })
	if !stop() {
		t.Error("stop of a pending AfterFunc = false")
	}
	select {
	case <-st.Done():
		t.Fatal("Done closed before the stream closed")
	default:
	}

	st.cancelAndAbort()

	<-st.Done()
	if err := st.Err(); err != context.Canceled {
		t.Errorf("Err = %v, want Canceled", err)
	}
	if err := context.Cause(st); err != context.Canceled {
		t.Errorf("Cause = %v, want Canceled", err)
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the stream was not cancelled with it")
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
	if context.AfterFunc(st, func() { close(late) })() {
		t.Error("stop after the close = true")
	}
	awaitSignal(t, late, "an AfterFunc registered after the close")
	st2 := &h2Stream{c: &h2Conn{baseCtx: base}}
	st2.cancelAndAbort()
	<-st2.Done() // made after the close: closed already
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
