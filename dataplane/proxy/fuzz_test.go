package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzRouterRequest sends random request lines and headers through the
// router over a real socket. The proxy answers 500 only when a handler
// panicked (and recovered), so any 500 is a bug; so is a hang.
func FuzzRouterRequest(f *testing.F) {
	a, b, c := startBackend(f, "a"), startBackend(f, "b"), startBackend(f, "c")
	_, _, base := httpSetup(f, routingTable(), map[string][]string{
		"a": {backendAddr(a)}, "b": {backendAddr(b)}, "c": {backendAddr(c)}, "empty": nil, "dead": {"127.0.0.1:1"},
	})
	addr := strings.TrimPrefix(base, "http://")
	f.Add("GET", "/foo/bar?x=1", "routes.test", "X-Version", "v2")
	f.Add("POST", "/method", "routes.test:8080", "X-Tier", "gold")
	f.Add("GET", "/r/prefix/a?b", "ROUTES.test", "Connection", "close, X-Tier")
	f.Add("GET", "/full/%2F..%2f/x", "[::1]:80", "X-Request-Id", "")
	f.Add("OPTIONS", "*", "", "Upgrade", "websocket")
	f.Add("GET", "http://routes.test/old/x", "a.foo.example.com", ":method", "GET")
	f.Fuzz(func(t *testing.T, method, target, host, hname, hval string) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		var sb strings.Builder
		sb.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
		if hname != "" {
			sb.WriteString(hname + ": " + hval + "\r\n")
		}
		sb.WriteString("Connection: close\r\n\r\n")
		if _, err := conn.Write([]byte(sb.String())); err != nil {
			return // the server may close on garbage before we finish
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("no response within 10s for %q", sb.String())
			}
			return // closed without a response: acceptable for garbage
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("500 (recovered panic) for %q", sb.String())
		}
	})
}
