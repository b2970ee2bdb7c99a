package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// The own downstream HTTP/1.1 loop (h1serve.go), on real loopback sockets
// with raw clients: framing, keep-alive, hand-over to net/http, client-gone
// detection and draining.

// loopBackend answers by path: the responses the loop has to frame.
func loopBackend(t *testing.T, hang chan struct{}) *rawBackend {
	return loopBackendSignalling(t, hang, nil)
}

// loopBackendSignalling also reports each /wait request reaching it.
func loopBackendSignalling(t *testing.T, hang, hanging chan struct{}) *rawBackend {
	return startRawBackend(t, func(r *http.Request, body []byte) (string, bool) {
		switch r.URL.Path {
		case "/small":
			if r.Method == http.MethodHead {
				return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", false
			}
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
		case "/nolen": // chunked upstream: streamed, so chunked downstream
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false
		case "/big": // larger than the loop's buffer: chunked downstream
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", 10000, strings.Repeat("b", 10000)), false
		case "/empty":
			return "HTTP/1.1 204 No Content\r\n\r\n", false
		case "/hang": // answers nothing
			<-hang
			return "", false
		case "/wait":
			hanging <- struct{}{}
			<-hang
			return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone", false
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Method: %s\r\n\r\n%s", len(body), r.Method, body), false
	})
}

// rawClient is one client connection speaking raw HTTP/1.1.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(raw string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, raw); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request with method.
func (rc *rawClient) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b)
}

// expectClosed fails unless the proxy closed the connection.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	if n, err := rc.br.Read(make([]byte, 1)); err == nil {
		rc.t.Fatalf("connection still open (read %d bytes)", n)
	}
}

// loopConns is how many connections the loop of the proxy's sockets serves.
func loopConns(p *Proxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.sockets {
		s.h1.mu.Lock()
		n += len(s.h1.conns)
		s.h1.mu.Unlock()
	}
	return n
}

func TestH1LoopKeepAliveFraming(t *testing.T) {
	b := loopBackend(t, nil)
	routes := routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/none"), "none"), toCluster(prefixMatch("/"), "b")))
	p, _, base := httpSetup(t, routes, map[string][]string{"b": {b.addr}, "none": {}})
	rc := dialRaw(t, base)

	rc.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || body != "ok" || resp.ContentLength != 2 || resp.Header.Get("Date") == "" || resp.Close {
		t.Fatalf("small: %d %q length %d header %v close %v", resp.StatusCode, body, resp.ContentLength, resp.Header, resp.Close)
	}
	if n := loopConns(p); n != 1 {
		t.Fatalf("the loop serves %d connections, want 1", n)
	}

	rc.send("GET /nolen HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body = rc.read("GET")
	if body != "hello" || resp.ContentLength != -1 {
		t.Fatalf("nolen: %q length %d te %v", body, resp.ContentLength, resp.TransferEncoding)
	}

	// A local reply without a declared length that fits the buffer.
	rc.send("GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body = rc.read("GET")
	if resp.StatusCode != 503 || resp.ContentLength != int64(len(body)) || resp.TransferEncoding != nil || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("local reply: %d %q length %d te %v", resp.StatusCode, body, resp.ContentLength, resp.TransferEncoding)
	}

	rc.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body = rc.read("GET")
	if len(body) != 10000 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("big: %d bytes, te %v", len(body), resp.TransferEncoding)
	}

	rc.send("HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body = rc.read("HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 2 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}

	rc.send("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body = rc.read("GET")
	if resp.StatusCode != 204 || body != "" || resp.Header["Content-Length"] != nil || resp.TransferEncoding != nil {
		t.Fatalf("204: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	resp, body = rc.read("POST")
	if body != "hello" || resp.Header.Get("X-Method") != "POST" {
		t.Fatalf("POST: %q %v", body, resp.Header)
	}

	// Pipelined: both answered, in order, on the same connection.
	rc.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none\r\nPUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo")
	if _, body = rc.read("POST"); body != "one" {
		t.Fatalf("first pipelined: %q", body)
	}
	if resp, body = rc.read("PUT"); body != "two" || resp.Header.Get("X-Method") != "PUT" {
		t.Fatalf("second pipelined: %q", body)
	}

	rc.send("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	// Read to the end: the proxy closes after the response.
	all, err := io.ReadAll(rc.br)
	if err != nil || !strings.Contains(string(all), "\r\nConnection: close\r\n") || !strings.HasSuffix(string(all), "\r\n\r\nok") {
		t.Fatalf("Connection: close not answered: %q %v", all, err)
	}
	if b.accepted.Load() != 1 {
		t.Errorf("upstream connections: %d, want 1 (kept alive)", b.accepted.Load())
	}
}

// Requests the loop does not implement are answered by net/http's server
// on the same connection: the same answers as before the loop existed.
func TestH1LoopHandsOver(t *testing.T) {
	b := loopBackend(t, nil)
	_, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b"))), map[string][]string{"b": {b.addr}})
	big := strings.Repeat("v", 6000)
	for _, tc := range []struct {
		name, raw, method string
		status            int
		body              string
	}{
		{"HTTP/1.0", "GET /small HTTP/1.0\r\n\r\n", "GET", 200, "ok"},
		{"chunked request body", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", 200, "abc"},
		{"Expect", "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "POST", 200, "hi"},
		{"head larger than the buffer", "GET /small HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", "GET", 200, "ok"},
		{"absolute form", "GET http://x/small HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 200, "ok"},
		{"two Host fields", "GET /small HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "GET", 400, ""},
		{"no Host", "GET /small HTTP/1.1\r\n\r\n", "GET", 400, ""},
		{"bad field name", "GET /small HTTP/1.1\r\nHost: x\r\nX Y: 1\r\n\r\n", "GET", 400, ""},
		{"bare LF", "GET /small HTTP/1.1\nHost: x\n\n", "GET", 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, base)
			rc.send(tc.raw)
			resp, body := rc.read(tc.method)
			if resp.StatusCode == 100 {
				resp, body = rc.read(tc.method)
			}
			if resp.StatusCode != tc.status || tc.body != "" && body != tc.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}

// A TLS connection handed over to net/http keeps its TLS state: routing
// sees an HTTPS request (not 421).
func TestH1LoopTLSHandOver(t *testing.T) {
	f := newTLSFixture(t)
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n", // the loop
		"GET / HTTP/1.0\r\nHost: a.example.com\r\n\r\n", // net/http
	} {
		c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 200 || parseEcho(string(body)).Backend != "a" {
			t.Fatalf("%q: %d %q", raw, resp.StatusCode, body)
		}
	}
}

// A client that leaves while the upstream has not answered cancels the
// request: the proxy closes its upstream connection. (The client leaves
// once the request reached the backend: see silentBackend.)
func TestH1LoopClientGoneBeforeResponse(t *testing.T) {
	addr, arrived, gone := silentBackend(t)
	base := h1Proxy(t, addr, time.Hour) // the route timeout must not be what closes it
	rc := dialRaw(t, base)
	rc.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	awaitSignal(t, arrived, "the request reaching the backend")
	rc.c.Close()
	awaitSignal(t, gone, "the proxy closing its upstream connection")
}

// Removing a listener closes its idle loop connections at once and its
// busy ones after their response, which says Connection: close.
func TestH1LoopDrain(t *testing.T) {
	hang, hanging := make(chan struct{}), make(chan struct{}, 1)
	b := loopBackendSignalling(t, hang, hanging)
	p, res, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b"))), map[string][]string{"b": {b.addr}})
	idle, busy := dialRaw(t, base), dialRaw(t, base)
	idle.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	busy.send("POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	awaitSignal(t, hanging, "the busy request reaching the backend")

	next := clone(res)
	delete(next.Listeners, "http")
	if err := p.Apply(config.TypeListener, next); err != nil {
		t.Fatal(err)
	}
	idle.expectClosed()
	close(hang)
	resp, body := busy.read("POST")
	if body != "done" || !resp.Close {
		t.Fatalf("busy connection's response %d without Connection: close: %v", resp.StatusCode, resp.Header)
	}
	busy.expectClosed()
}
