package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestH1UpstreamAnswersBeforeReadingTheBody: an upstream that answers a
// request from its head alone and closes without reading the body (a
// 413, say) gets its answer to the client, although writing the rest of
// the body fails; before, the client got 502 (review finding).
func TestH1UpstreamAnswersBeforeReadingTheBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answered := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
		c.Close() // the body unread: the kernel resets the connection
		close(answered)
	}()
	base := h1Proxy(t, ln.Addr().String(), 0)

	c := dialProxy(t, base)
	const size = 60 << 10 // under the exchange's 64 KiB, over one buffer
	if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 61440\r\n\r\n"+strings.Repeat("a", 8<<10)); err != nil {
		t.Fatal(err)
	}
	awaitSignal(t, answered, "the upstream's early answer")
	// The rest of the body: the proxy's writes of it to the upstream fail.
	go c.Write([]byte(strings.Repeat("b", size-8<<10)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != "too big\n" {
		t.Fatalf("client got %d %q, want the upstream's 413", resp.StatusCode, body)
	}
}
