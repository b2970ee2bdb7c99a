package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startHTTP1 serves the backend's HTTP/1.1 codec on a loopback port.
func startHTTP1(t *testing.T) (addr string, count *atomic.Uint64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp := newResponses([]byte("0123456789\n"))
	count = new(atomic.Uint64)
	go serveHTTP1(lis, resp, count)
	t.Cleanup(func() { lis.Close(); resp.stop() })
	return lis.Addr().String(), count
}

// exchange writes raw bytes, reads one response per method (the requests'
// methods, in order) and says whether the server then closed.
func exchange(t *testing.T, addr, raw string, methods ...string) (responses []*http.Response, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, method := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("reading response %d: %v", len(responses)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		responses = append(responses, resp)
	}
	_, err = br.ReadByte() // EOF, or a reset when the server closed with our bytes unread
	return responses, err != nil
}

func TestHTTP1PipelinedKeepAlive(t *testing.T) {
	addr, count := startHTTP1(t)
	raw := "GET / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
		"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	got, closed := exchange(t, addr, raw, "GET", "POST", "HEAD", "GET")
	if !closed {
		t.Error("the connection stayed open after Connection: close")
	}
	for i, r := range got {
		if r.StatusCode != 200 {
			t.Errorf("response %d: status %d, want 200", i+1, r.StatusCode)
		}
		if r.Header.Get("Date") == "" {
			t.Errorf("response %d: no Date header", i+1)
		}
	}
	if b, _ := io.ReadAll(got[0].Body); string(b) != "0123456789\n" {
		t.Errorf("body %q, want the fixed body", b)
	}
	if !got[3].Close {
		t.Error("the last response does not say Connection: close")
	}
	if n := count.Load(); n != 4 {
		t.Errorf("count %d, want 4", n)
	}
}

func TestHTTP1HTTP10ClosesUnlessKeepAlive(t *testing.T) {
	addr, _ := startHTTP1(t)
	if _, closed := exchange(t, addr, "GET / HTTP/1.0\r\n\r\n", "GET"); !closed {
		t.Error("HTTP/1.0 without keep-alive: connection left open")
	}
	got, _ := exchange(t, addr, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", "GET", "GET")
	if got[0].Close {
		t.Error("HTTP/1.0 with Connection: keep-alive was closed after the first response")
	}
}

func TestHTTP1RefusesWhatItCannotParse(t *testing.T) {
	addr, count := startHTTP1(t)
	for raw, want := range map[string]int{
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n": 501,
		"GET / HTTP/2.0\r\n\r\n":                                         400,
		"GET / HTTP/1.1\r\nno colon\r\n\r\n":                             400,
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n":                   400,
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n": 400,
	} {
		got, closed := exchange(t, addr, raw, "GET")
		if got[0].StatusCode != want || !closed {
			t.Errorf("%.40q: status %d closed %v, want %d and closed", raw, got[0].StatusCode, closed, want)
		}
	}
	if n := count.Load(); n != 0 {
		t.Errorf("refused requests were counted: %d", n)
	}
}

// TestHTTP1WithNetHTTPClient: a real client keeps one connection for many
// requests.
func TestHTTP1WithNetHTTPClient(t *testing.T) {
	addr, count := startHTTP1(t)
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 50 {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if dials.Load() != 1 || count.Load() != 50 {
		t.Errorf("%d dials for %d requests, want 1 dial and 50 requests", dials.Load(), count.Load())
	}
}
