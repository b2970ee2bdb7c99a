package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// uploadBackend reads every request body to the end before answering, as
// an upload handler does; it counts the requests it saw and the bodies it
// received completely. early: answer 200 and flush before reading.
type uploadBackend struct {
	seen, complete atomic.Int64
	addr           string
}

func startUploadBackend(t *testing.T, early bool) *uploadBackend {
	t.Helper()
	b := &uploadBackend{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.seen.Add(1)
		if early {
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		b.complete.Add(1)
		fmt.Fprintf(w, "got %d", n)
	})}
	if early {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true) // full duplex upstream
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b.addr = ln.Addr().String()
	return b
}

// bodyLimitProxy serves one route to backend on a plain HTTP socket whose
// connection manager has the buffer filter with max_request_bytes limit.
func bodyLimitProxy(t *testing.T, backend string, limit uint32, h2Upstream bool) string {
	t.Helper()
	p := newProxy(t)
	res := newResources()
	addCluster(res, "up", backend)
	if h2Upstream {
		res.Clusters["up"].TypedExtensionProtocolOptions = h2cClusterOptions(t)
	}
	rc := routeConfig("rc", vhost("any", []string{"*"}, toCluster(prefixMatch("/"), "up")))
	res.Routes["rc"] = rc
	h := hcm(t, "rc")
	h.HttpFilters = []*hcmv3.HttpFilter{
		{Name: "envoy.filters.http.buffer", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(limit)})}},
		{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}},
	}
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	return p.ListenerAddr("http").String()
}

// rawExchange writes a raw HTTP/1.1 request and reads the response head.
func rawExchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func chunked(n int) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", n, strings.Repeat("x", n))
}

// TestRequestBodyLimit: a declared Content-Length over the limit gets 413
// and never reaches the backend; a chunked body crossing the limit is cut
// and answered 413 (the backend never receives it completely); bodies up to
// the limit, exactly at it, and HTTP/2 bodies without content-length under
// it pass; an HTTP/2 body over it gets 413.
func TestRequestBodyLimit(t *testing.T) {
	b := startUploadBackend(t, false)
	addr := bodyLimitProxy(t, b.addr, 1024, false)

	resp, body := rawExchange(t, addr, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n"+strings.Repeat("x", 1025))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || b.seen.Load() != 0 {
		t.Fatalf("Content-Length over limit: %d %q, backend saw %d", resp.StatusCode, body, b.seen.Load())
	}
	resp, body = rawExchange(t, addr, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("x", 1024))
	if resp.StatusCode != http.StatusOK || body != "got 1024" {
		t.Fatalf("Content-Length at limit: %d %q", resp.StatusCode, body)
	}
	resp, body = rawExchange(t, addr, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(1000))
	if resp.StatusCode != http.StatusOK || body != "got 1000" {
		t.Fatalf("chunked under limit: %d %q", resp.StatusCode, body)
	}
	completeBefore := b.complete.Load()
	resp, body = rawExchange(t, addr, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(5000))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over limit: %d %q", resp.StatusCode, body)
	}
	if got := b.complete.Load(); got != completeBefore {
		t.Errorf("the backend received a body over the limit completely")
	}

	c := h2cClient()
	for _, tc := range []struct {
		size int
		want int
	}{{1000, http.StatusOK}, {3000, http.StatusRequestEntityTooLarge}} {
		// io.MultiReader hides the length: HTTP/2 DATA without content-length.
		req, _ := http.NewRequest("POST", "http://"+addr+"/up", io.MultiReader(bytes.NewReader(make([]byte, tc.size))))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("h2c %d bytes: %v", tc.size, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.want {
			t.Errorf("h2c %d bytes: %s %d, want %d", tc.size, resp.Proto, resp.StatusCode, tc.want)
		}
	}
}

// TestRequestBodyLimitAfterResponseStarted: when the upstream has already
// answered, a body crossing the limit resets the client's stream instead of
// letting the response complete.
func TestRequestBodyLimitAfterResponseStarted(t *testing.T) {
	b := startUploadBackend(t, true)
	addr := bodyLimitProxy(t, b.addr, 1024, true)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/up", pr)
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d before the limit", resp.StatusCode)
	}
	go func() {
		pw.Write(make([]byte, 4096))
		pw.Close()
	}()
	if got, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("response completed (%q) although the body crossed the limit", got)
	}
	if b.complete.Load() != 0 {
		t.Error("the backend received the whole body")
	}
}

// TestRequestBodyNoLimit: without the buffer filter a large chunked body
// streams through whole.
func TestRequestBodyNoLimit(t *testing.T) {
	b := startUploadBackend(t, false)
	p, _, base := httpSetup(t, routeConfig("rc", vhost("any", []string{"*"}, toCluster(prefixMatch("/"), "up"))), map[string][]string{"up": {b.addr}})
	_ = p
	resp, body := rawExchange(t, strings.TrimPrefix(base, "http://"), "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(1<<20))
	if resp.StatusCode != http.StatusOK || body != fmt.Sprintf("got %d", 1<<20) {
		t.Fatalf("unlimited: %d %q", resp.StatusCode, body)
	}
}
