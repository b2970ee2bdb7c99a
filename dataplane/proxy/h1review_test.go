package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Cases a review of the HTTP/1.1 exchange found: each test fails on the
// code before its fix.

// TestH1UnsolicitedBytesOnIdleConnection: bytes an upstream sends on an
// idle pooled connection are never read as the next request's response,
// for a GET (retryable) as for any other request.
func TestH1UnsolicitedBytesOnIdleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	poison := make(chan struct{})
	poisoned := make(chan struct{})
	go func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, first bool) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
					if first {
						first = false
						<-poison
						// On loopback the bytes are in the proxy's
						// socket once Write returns.
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
						close(poisoned)
					}
				}
			}(c, first)
			first = false
		}
	}()
	base := h1Proxy(t, ln.Addr().String(), 0)
	c := client()
	if resp, body := get(t, c, "GET", base+"/a", nil); resp.StatusCode != 200 || body != "fresh" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	close(poison)
	awaitSignal(t, poisoned, "the backend writing unsolicited bytes")
	for i := 0; i < 3; i++ {
		if resp, body := get(t, c, "GET", base+"/b", nil); resp.StatusCode != 200 || body != "fresh" {
			t.Fatalf("request %d after unsolicited bytes on the idle connection: %d %q", i, resp.StatusCode, body)
		}
	}
}

// TestH1StalledRequestBodyTimesOut: the route timeout covers a client that
// stops sending its declared body; it gets 504 instead of holding the
// handler and an upstream connection.
func TestH1StalledRequestBodyTimesOut(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	base := h1Proxy(t, b.addr, 200*time.Millisecond)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // liveness only: the bug hangs
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body stalled: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("stalled request body: %d, want 504", resp.StatusCode)
	}
}

// TestH1NoH2WithoutALPN: a TLS connection whose ALPN chose http/1.1 that
// sends the HTTP/2 preface gets 505, as net/http answers it, and is not
// served as h2c by the server the loop hands connections to.
func TestH1NoH2WithoutALPN(t *testing.T) {
	f := newTLSFixture(t)
	c, err := tls.Dial("tcp", f.addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // liveness only
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no HTTP/1.1 answer to an HTTP/2 preface on an http/1.1 TLS connection (served as h2c?): %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Errorf("HTTP/2 preface without ALPN h2: %d, want 505", resp.StatusCode)
	}
}
