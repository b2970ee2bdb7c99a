package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// The HTTP/1.1 exchange (h1exchange.go) against a scripted backend: every
// framing and connection-reuse case on a real loopback socket.

// rawBackend answers each request with what script returns for it: the
// raw response bytes and whether to close the connection after them.
// It counts the connections it accepted (reuse shows as fewer).
type rawBackend struct {
	addr     string
	accepted atomic.Int64
	closed   chan struct{} // a connection closed by the backend (after "close")
	gone     chan struct{} // a connection the proxy closed under the backend
}

func startRawBackend(t *testing.T, script func(r *http.Request, body []byte) (resp string, closeAfter bool)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{addr: ln.Addr().String(), closed: make(chan struct{}, 64), gone: make(chan struct{}, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						b.gone <- struct{}{}
						return
					}
					body, _ := io.ReadAll(r.Body)
					resp, closeAfter := script(r, body)
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
					if closeAfter {
						c.Close()
						b.closed <- struct{}{}
						return
					}
				}
			}()
		}
	}()
	return b
}

// awaitSignal fails the test if ch stays silent: a liveness bound (the
// test would hang otherwise), not a timing assertion.
func awaitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no sign of %s", what)
	}
}

// dialProxy opens a raw connection to the proxy at base ("http://addr"),
// bounded by a deadline so that a stuck exchange fails the test instead of
// hanging it (a liveness bound, not a timing assertion). It is closed at
// the test's end.
func dialProxy(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// h1Proxy routes everything to the backend, with an optional route timeout.
func h1Proxy(t *testing.T, backend string, timeout time.Duration) string {
	t.Helper()
	r := toCluster(prefixMatch("/"), "b")
	if timeout > 0 {
		r.GetRoute().Timeout = durationpb.New(timeout)
	}
	_, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, r)), map[string][]string{"b": {backend}})
	return base
}

func get(t *testing.T, c *http.Client, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestH1ResponseFraming(t *testing.T) {
	large := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB: many buffers
	b := startRawBackend(t, func(r *http.Request, body []byte) (string, bool) {
		switch r.URL.Path {
		case "/length":
			if r.Method == "HEAD" {
				return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: 1\r\n\r\n", false
			}
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: 1\r\n\r\nhello", false
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
				"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 42\r\n\r\n", false
		case "/long-field":
			// One field line longer than the exchange's read buffer.
			return "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("v", 20<<10) + "\r\nContent-Length: 2\r\n\r\nok", false
		case "/chunked-empty":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\nX-Sum: 0\r\n\r\n", false
		case "/large":
			return "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + large, false
		case "/large-chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + large + "\r\n0\r\n\r\n", false
		case "/no-content":
			return "HTTP/1.1 204 No Content\r\nX-Up: 1\r\n\r\n", false
		case "/not-modified":
			return "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nEtag: \"x\"\r\n\r\n", false
		case "/hints":
			return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
		case "/echo":
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body), false
		case "/connection-lists-te":
			// Connection naming the framing fields must not change the
			// framing (found in review: the body's end was lost and the
			// connection pooled mid-response).
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: transfer-encoding\r\n\r\n" +
				"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", false
		case "/connection-lists-length":
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length, x-drop\r\nX-Drop: 1\r\n\r\nhello", false
		}
		return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false
	})
	base := h1Proxy(t, b.addr, 0)
	c := client()

	check := func(what string) {
		if n := b.accepted.Load(); n != 1 {
			t.Errorf("%s: backend accepted %d connections, want 1 (kept alive throughout)", what, n)
		}
	}
	resp, body := get(t, c, "GET", base+"/length", nil)
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("X-Up") != "1" || resp.ContentLength != 5 {
		t.Errorf("content-length: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	check("before /chunked")
	resp, body = get(t, c, "GET", base+"/chunked", nil)
	if resp.StatusCode != 200 || body != "abcde" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("chunked: %d %q trailer %v", resp.StatusCode, body, resp.Trailer)
	}
	check("before /long-field")
	resp, body = get(t, c, "GET", base+"/long-field", nil)
	if resp.StatusCode != 200 || body != "ok" || len(resp.Header.Get("X-Long")) != 20<<10 {
		t.Errorf("20 KiB field: %d %q, field of %d bytes", resp.StatusCode, body, len(resp.Header.Get("X-Long")))
	}
	check("before /chunked-empty")
	resp, body = get(t, c, "GET", base+"/chunked-empty", nil)
	if resp.StatusCode != 200 || body != "" || resp.Trailer.Get("X-Sum") != "0" {
		t.Errorf("chunked, empty body: %d %q trailer %v", resp.StatusCode, body, resp.Trailer)
	}
	for _, path := range []string{"/large", "/large-chunked"} {
		check("before " + path)
		resp, body = get(t, c, "GET", base+path, nil)
		if resp.StatusCode != 200 || body != large {
			t.Errorf("%s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
	check("before /length")
	resp, body = get(t, c, "HEAD", base+"/length", nil)
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	check("before /no-content")
	resp, body = get(t, c, "GET", base+"/no-content", nil)
	if resp.StatusCode != 204 || body != "" || resp.Header.Get("X-Up") != "1" {
		t.Errorf("204: %d %q", resp.StatusCode, body)
	}
	check("before /not-modified")
	resp, body = get(t, c, "GET", base+"/not-modified", nil)
	if resp.StatusCode != 304 || body != "" || resp.Header.Get("Etag") != `"x"` {
		t.Errorf("304: %d %q", resp.StatusCode, body)
	}
	check("before /hints")
	resp, body = get(t, c, "GET", base+"/hints", nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("103 then 200: %d %q", resp.StatusCode, body)
	}
	check("before /echo")
	resp, body = get(t, c, "POST", base+"/echo", strings.NewReader("request body"))
	if resp.StatusCode != 200 || body != "request body" {
		t.Errorf("POST: %d %q", resp.StatusCode, body)
	}
	check("before /connection-lists-te")
	resp, body = get(t, c, "GET", base+"/connection-lists-te", nil)
	if resp.StatusCode != 200 || body != "abcde" {
		t.Errorf("Connection: transfer-encoding: %d %q", resp.StatusCode, body)
	}
	check("before /connection-lists-length")
	resp, body = get(t, c, "GET", base+"/connection-lists-length", nil)
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("X-Drop") != "" {
		t.Errorf("Connection: content-length, x-drop: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	check("after /connection-lists-length")
	resp, body = get(t, c, "GET", base+"/length", nil)
	if resp.StatusCode != 200 || body != "hello" {
		t.Errorf("after the Connection cases: %d %q", resp.StatusCode, body)
	}
	// Everything above was sequential and fully read: one connection.
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("backend accepted %d connections, want 1 (kept alive throughout)", n)
	}
}

func TestH1CloseDelimitedAndConnectionClose(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/eof" {
			return "HTTP/1.1 200 OK\r\n\r\nuntil the end", true
		}
		return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", true
	})
	base := h1Proxy(t, b.addr, 0)
	c := client()
	for range 2 {
		if resp, body := get(t, c, "GET", base+"/eof", nil); resp.StatusCode != 200 || body != "until the end" {
			t.Errorf("close-delimited: %d %q", resp.StatusCode, body)
		}
		if resp, body := get(t, c, "GET", base+"/close", nil); resp.StatusCode != 200 || body != "bye" || resp.Close {
			// The client's connection stays open: "close" was the upstream's.
			t.Errorf("Connection: close: %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
	}
	if n := b.accepted.Load(); n != 4 {
		t.Errorf("backend accepted %d connections, want 4 (none reused)", n)
	}
}

func TestH1BrokenResponsesAre502(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		switch r.URL.Path {
		case "/status":
			return "HTTP/1.1 2x0 OK\r\n\r\n", true
		case "/lengths":
			return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", true
		case "/encoding":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true
		case "/folding":
			return "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", true
		case "/name":
			return "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 0\r\n\r\n", true
		case "/nothing":
			return "", true
		case "/switch":
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
	})
	base := h1Proxy(t, b.addr, 0)
	for _, path := range []string{"/status", "/lengths", "/encoding", "/folding", "/name", "/nothing", "/switch"} {
		if resp, _ := get(t, client(), "GET", base+path, nil); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502", path, resp.StatusCode)
		}
	}
}

// A response cut short after its head: the client must not take it for a
// complete one.
func TestH1TruncatedBodyCutsTheClient(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true
	})
	base := h1Proxy(t, b.addr, 0)
	// Either the response never arrives or its body fails: the
	// connection is cut, whatever had been buffered towards the client.
	resp, err := client().Get(base + "/")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a truncated body succeeded")
	}
}

// The backend closes a kept-alive connection while it is idle in the pool:
// a GET is retried on a fresh connection, a POST finds the pooled one
// closed before using it. Neither fails.
func TestH1StaleConnectionRecovered(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, body []byte) (string, bool) {
		// Claims keep-alive, then closes: a backend's idle timeout firing
		// just after the response.
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true
	})
	base := h1Proxy(t, b.addr, 0)
	c := client()
	for i, method := range []string{"GET", "GET", "POST", "POST", "DELETE"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		if resp, got := get(t, c, method, base+"/", body); resp.StatusCode != 200 || got != "ok" {
			t.Fatalf("request %d (%s) after the backend closed the pooled connection: %d %q", i, method, resp.StatusCode, got)
		}
		awaitSignal(t, b.closed, "the backend closing its connection") // before the next request
	}
}

func TestH1SlowUpstreamTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/slow" {
			<-release
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	// Long enough for /fast's new connection on a loaded machine.
	base := h1Proxy(t, b.addr, time.Second)
	if resp, body := get(t, client(), "GET", base+"/slow", nil); resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("slow upstream: %d %q, want 504", resp.StatusCode, body)
	}
	// The timed-out connection is not pooled: the next request works.
	if resp, body := get(t, client(), "GET", base+"/fast", nil); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after a timeout: %d %q", resp.StatusCode, body)
	}
}

// A client that goes away mid-response ends the upstream exchange too.
func TestH1ClientGoneMidBody(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		// A stream that never ends by itself.
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n", false
	})
	base := h1Proxy(t, b.addr, 0)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || !bytes.Equal(buf, []byte("first")) {
		t.Fatalf("first chunk: %q %v", buf, err)
	}
	c.Close()
	awaitSignal(t, b.gone, "the proxy closing its upstream connection")
}

// Request framing and hop-by-hop fields as the backend receives them.
func TestH1RequestHead(t *testing.T) {
	got := make(chan *http.Request, 1)
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		got <- r
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n", false
	})
	base := h1Proxy(t, b.addr, 0)
	req, _ := http.NewRequest("PUT", base+"/a%2Fb?q=1", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("X-Forwarded-For", "192.0.2.1")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Keep", "v")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Up-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("upstream hop-by-hop fields reached the client: %v", resp.Header)
	}
	r := <-got
	if r.RequestURI != "/a%2Fb?q=1" || r.Host != strings.TrimPrefix(base, "http://") {
		t.Errorf("request target %q host %q", r.RequestURI, r.Host)
	}
	if r.Header.Get("X-Hop") != "" || r.Header.Get("Connection") != "" {
		t.Errorf("hop-by-hop fields forwarded: %v", r.Header)
	}
	if r.Header.Get("Te") != "trailers" || r.Header.Get("X-Keep") != "v" || r.Header.Get("X-Request-Id") == "" ||
		r.Header.Get("X-Forwarded-For") != "192.0.2.1" || r.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarded fields: %v", r.Header)
	}
	if r.ContentLength != 0 || r.Header.Get("Content-Length") != "0" {
		t.Errorf("PUT without a body: length %d %v", r.ContentLength, r.Header)
	}
}

// remoteHost must agree with the net.SplitHostPort it short-cuts.
func TestRemoteHost(t *testing.T) {
	for _, addr := range []string{"1.2.3.4:5", "127.0.0.1:65535", "[::1]:80", "[fe80::1%eth0]:443", "::1", "1.2.3.4", "host", "", ":80", "a:b:c"} {
		want, _, err := net.SplitHostPort(addr)
		if err != nil {
			want = addr
		}
		if got := remoteHost(addr); got != want {
			t.Errorf("remoteHost(%q) = %q, want %q", addr, got, want)
		}
	}
}

// A route timeout's deadline stays on the pooled connection after its
// request: a later request on a route without a timeout, on the same
// connection and after that deadline has passed, must not inherit it.
func TestH1RouteTimeoutDoesNotOutliveItsRequest(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/untimed" {
			time.Sleep(300 * time.Millisecond)
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	timed := toCluster(prefixMatch("/timed"), "b")
	// Long enough for the timed request itself on a loaded machine.
	timed.GetRoute().Timeout = durationpb.New(500 * time.Millisecond)
	untimed := toCluster(prefixMatch("/"), "b")
	untimed.GetRoute().Timeout = durationpb.New(0) // Envoy's "disabled" (unset is 15 s)
	_, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, timed, untimed)), map[string][]string{"b": {b.addr}})
	c := client()
	if resp, body := get(t, c, "GET", base+"/timed", nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("timed route: %d %q", resp.StatusCode, body)
	}
	time.Sleep(600 * time.Millisecond) // the timed request's deadline (and its slack) passes while its connection is idle
	if resp, body := get(t, c, "GET", base+"/untimed", nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("untimed route after the timed one: %d %q", resp.StatusCode, body)
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("the backend saw %d connections, want 1 (the second request reuses the first's)", n)
	}
}
