package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// FuzzResponseHead checks the exchange's response head parser against
// net/http's: a head this proxy accepts must be one net/http accepts too,
// with the same status and framing (this parser is the stricter one: it
// refuses line folding and conflicting lengths), and no input may panic.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.1 204\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\nx-lower: v\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pc := &h1Conn{br: bufio.NewReaderSize(strings.NewReader(raw), h1ReadBufferSize)}
		h := http.Header{}
		head, err := pc.readResponseHead(h)
		if err != nil {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("accepted a head net/http refuses (%v): %q", err, raw)
		}
		if resp.StatusCode != head.status {
			t.Fatalf("status %d, net/http %d: %q", head.status, resp.StatusCode, raw)
		}
		chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
		if head.chunked != chunked {
			t.Fatalf("chunked %v, net/http %v: %q", head.chunked, chunked, raw)
		}
		if !head.chunked && head.status >= 200 && head.status != 204 && head.status != 304 && head.contentLength != resp.ContentLength {
			t.Fatalf("length %d, net/http %d: %q", head.contentLength, resp.ContentLength, raw)
		}
		for _, k := range hopByHop {
			if h[k] != nil {
				t.Fatalf("hop-by-hop field %s kept: %q", k, raw)
			}
		}
	})
}
