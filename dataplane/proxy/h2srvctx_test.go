package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"
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
