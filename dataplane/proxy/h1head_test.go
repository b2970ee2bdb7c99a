package proxy

import (
	"bufio"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// Responses read one after another on one connection: a head the same as
// the last one shares its string and its values array (no allocation), a
// different one gets its own, and a filter's append to one response's
// values never shows in the next.
func TestH1ResponseHeadSharedOnlyWhenTheSame(t *testing.T) {
	heads := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:01 GMT\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nX-Other: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Tue, 24 Nov 2026 09:00:01 GMT\r\nContent-Length: 0\r\n\r\n",
	}
	readHeadsInTurn(t, heads, "Content-Type", func(i int, h http.Header, strShared, valsShared bool) {
		same := i > 0 && heads[i] == heads[i-1]
		if same != strShared {
			t.Errorf("head %d: the same as the last %v, its string shared %v", i, same, strShared)
		}
		if same != valsShared {
			t.Errorf("head %d: the same as the last %v, its values array shared %v", i, same, valsShared)
		}
		h.Add("Content-Type", "appended by a filter") // must not reach the next response
	})
}

// A head whose fields are cut at other places than the last one's, with
// the same bytes once the separators are gone ("Xa: bc" and "Xab: c"),
// shares the string but never the values: each head's values are its own.
func TestH1ResponseValuesSharedOnlyWhenCutTheSame(t *testing.T) {
	heads := []string{
		"HTTP/1.1 200 OK\r\nXa: bc\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nXa: bc\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nXab: c\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nXab: c\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nXa: bc\r\nContent-Length: 0\r\n\r\n",
	}
	readHeadsInTurn(t, heads, "Content-Length", func(i int, h http.Header, strShared, valsShared bool) {
		same := i > 0 && heads[i] == heads[i-1]
		if same != valsShared {
			t.Errorf("head %d: the same as the last %v, its values array shared %v", i, same, valsShared)
		}
		// Without the separators every head here has the same bytes: the
		// string is shared from the second on, whichever the cut.
		if strShared != (i > 0) {
			t.Errorf("head %d: its string shared %v", i, strShared)
		}
		// What filters do (HeaderMutation.Apply): an append and an
		// overwrite. Neither may reach the next response.
		h.Add("Content-Length", "1")
		h["Xa"] = []string{"overwritten"}
		h["Xab"] = []string{"overwritten"}
	})
}

// readHeadsInTurn reads heads one after another on one upstream
// connection, checks that each reads as http.ReadResponse reads it, and
// calls each with the head's fields and whether the value of field shares
// its string and its values array with the head before (as it was read,
// before each changed it).
func readHeadsInTurn(t *testing.T, heads []string, field string, each func(i int, h http.Header, strShared, valsShared bool)) {
	t.Helper()
	pc := &h1Conn{br: bufio.NewReaderSize(strings.NewReader(strings.Join(heads, "")), h1ReadBufferSize)}
	var prevStr *byte
	var prevVals *string
	for i, raw := range heads {
		h := http.Header{}
		if _, err := pc.readResponseHead(h); err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vv := range want.Header {
			if len(h[k]) != 1 || h[k][0] != vv[0] {
				t.Errorf("head %d: %s = %q, want %q", i, k, h[k], vv)
			}
		}
		if len(h) != len(want.Header) {
			t.Fatalf("head %d: %v, want %v", i, h, want.Header)
		}
		str, vals := unsafe.StringData(h[field][0]), unsafe.SliceData(h[field])
		strShared, valsShared := str == prevStr, vals == prevVals
		prevStr, prevVals = str, vals
		each(i, h, strShared, valsShared)
	}
}

// Request heads parsed one after another on one connection (the loop's
// kept head): one the same as the last shares its string, one that differs
// gets its own, and every parse gives what a parse with nothing kept gives.
func TestH1RequestHeadSharedOnlyWhenTheSame(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
		"GET /other HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: b.example\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: b.example\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
		"GET /" + strings.Repeat("x", maxKeptHead) + " HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET /" + strings.Repeat("x", maxKeptHead) + " HTTP/1.1\r\nHost: a.example\r\n\r\n",
	}
	var kept string
	var prev *byte
	for i, raw := range heads {
		hdr, fresh := http.Header{}, http.Header{}
		var h, want h1Head
		if v := parseH1Head([]byte(raw), 0, hdr, &h, &kept); v != h1Parsed {
			t.Fatalf("head %d: %v", i, v)
		}
		if v := parseH1Head([]byte(raw), 0, fresh, &want, nil); v != h1Parsed || h != want || !maps.EqualFunc(hdr, fresh, slices.Equal) {
			t.Fatalf("head %d: %+v %q, with nothing kept %+v %q", i, h, hdr, want, fresh)
		}
		same := i > 0 && raw == heads[i-1] && len(raw) <= maxKeptHead
		if shared := unsafe.StringData(h.target) == prev; shared != same {
			t.Errorf("head %d: the same as the last (and kept) %v, its string shared %v", i, same, shared)
		}
		prev = unsafe.StringData(h.target)
	}
}
