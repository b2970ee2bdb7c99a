package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"unsafe"
)

// Responses read one after another on one connection: a head the same as
// the last one shares its string (no allocation), a different one gets its
// own values, and a filter's append to one response's values never shows
// in the next.
func TestH1ResponseHeadSharedOnlyWhenTheSame(t *testing.T) {
	heads := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:01 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nX-Other: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:01 GMT\r\nContent-Length: 0\r\n\r\n",
	}
	pc := &h1Conn{br: bufio.NewReaderSize(strings.NewReader(strings.Join(heads, "")), h1ReadBufferSize)}
	var prev http.Header
	for i, raw := range heads {
		h := http.Header{}
		if _, err := pc.readResponseHead(h); err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != len(want.Header) {
			t.Fatalf("head %d: %v, want %v", i, h, want.Header)
		}
		for k, vv := range want.Header {
			if len(h[k]) != 1 || h[k][0] != vv[0] {
				t.Errorf("head %d: %s = %q, want %q", i, k, h[k], vv)
			}
		}
		same := i > 0 && raw == heads[i-1]
		shared := prev != nil && unsafe.StringData(h["Content-Type"][0]) == unsafe.StringData(prev["Content-Type"][0])
		if same != shared {
			t.Errorf("head %d: the same as the last %v, its string shared %v", i, same, shared)
		}
		h.Add("Content-Type", "appended by a filter") // must not reach the next response
		prev = h
	}
}
