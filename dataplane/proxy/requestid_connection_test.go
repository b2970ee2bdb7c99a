package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRequestIDSurvivesConnectionListing: X-Request-Id is the proxy's
// own field (the access log records it), so the upstream gets the
// request's id even when the client's Connection field lists it, on
// both upstream paths: the HTTP/1.1 exchange (a GET) and ReverseProxy
// (a chunked body). Before, the exchange sent no id at all and
// ReverseProxy a new one the access log never saw.
func TestRequestIDSurvivesConnectionListing(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		id := r.Header.Values("X-Request-Id")
		body := fmt.Sprintf("%d:%s", len(id), strings.Join(id, ","))
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), false
	})
	base := h1Proxy(t, b.addr, 0)
	send := func(req string) string {
		t.Helper()
		c := dialProxy(t, base)
		defer c.Close() // one per call, not all at the end
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, got)
		}
		return string(got)
	}
	for name, req := range map[string]string{
		"exchange":     "GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: X-Request-Id\r\nX-Request-Id: rid-7\r\n\r\n",
		"reverseproxy": "POST /x HTTP/1.1\r\nHost: a.example\r\nConnection: x-request-id\r\nX-Request-Id: rid-7\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
	} {
		if got := send(req); got != "1:rid-7" {
			t.Errorf("%s: upstream saw X-Request-Id %q, want exactly rid-7", name, got)
		}
	}
	// Without an id of its own the request gets one, and the upstream
	// gets exactly one.
	got := send("GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: X-Request-Id\r\n\r\n")
	if !strings.HasPrefix(got, "1:") || len(got) != 2+36 {
		t.Errorf("generated id: upstream saw %q, want one UUID", got)
	}
}
