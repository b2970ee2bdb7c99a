package proxy

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// A handler goroutine reuses its last response's header map and field
// array (h2Spare): each response on a connection carries its own header
// fields and none of the one before. The requests go one at a time, so
// the same goroutine serves them all.
func TestH2ResponseHeadersDoNotLeakIntoTheNext(t *testing.T) {
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(w.Header()) != 0 {
			t.Errorf("%s: the header map holds %v before the handler wrote any", r.URL.Path, w.Header())
		}
		for i := 0; i < len(r.URL.Path)-1; i++ {
			w.Header().Set(fmt.Sprintf("X-Field-%d", i), r.URL.Path)
		}
		io.WriteString(w, r.URL.Path)
	})
	addr, _ := h2ServeOne(t, srv, h)
	c := h2cClient()
	for _, path := range []string{"/aaaaaaaaaaaaaaaaaaaaaaaaa", "/bbbb", "/c", "/dddddddddd", "/"} {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != path {
			t.Fatalf("%s: HTTP/%d %q", path, resp.ProtoMajor, body)
		}
		n := 0
		for k, vv := range resp.Header {
			if !strings.HasPrefix(k, "X-Field-") {
				continue
			}
			n++
			if len(vv) != 1 || vv[0] != path {
				t.Errorf("%s: %s = %q, from another response", path, k, vv)
			}
		}
		if n != len(path)-1 {
			t.Errorf("%s: %d X-Field headers, want %d", path, n, len(path)-1)
		}
	}
}

// A request's header map is emptied and kept when its handler returns, and
// the connection's next request is built on it (h2ReqSpare): each handler
// sees exactly the fields its client sent, none of an earlier request's nor
// what an earlier handler added, repeated fields included. The map must be
// the one reused, or the test proves nothing.
func TestH2RequestHeadersDoNotLeakIntoTheNext(t *testing.T) {
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	type seen struct {
		header http.Header
		m      http.Header // the map itself: held, so its address is not reused by another
	}
	got := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Clone(), r.Header}
		r.Header.Set("X-Added-By-Handler", r.URL.Path) // the proxy adds X-Request-Id so
		r.Header["X-Dup"] = append(r.Header["X-Dup"], "appended")
	})
	addr, _ := h2ServeOne(t, srv, h)
	c := h2cClient()
	requests := []http.Header{
		{"X-First": {"1"}, "X-Dup": {"a", "b"}, "Accept": {"text/plain"}},
		{"X-Second": {"2"}},
		{"X-Dup": {"c"}, "X-Third": {"3", "33"}},
		{},
	}
	// Whether a request finds the last one's map kept is a race: the
	// client may send it before the handler's goroutine has given the map
	// back. So the requests go around a few times and the test asks for
	// reuse anywhere among them.
	var maps []http.Header
	for i := range 3 * len(requests) {
		want := requests[i%len(requests)]
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/%d", addr, i), nil)
		for k, vv := range want {
			for _, v := range vv {
				req.Header.Add(k, v)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := <-got
		maps = append(maps, s.m)
		delete(s.header, "Accept-Encoding") // the client's own
		delete(s.header, "User-Agent")
		if len(s.header) != len(want) {
			t.Errorf("request %d: the handler saw %v, the client sent %v", i, s.header, want)
			continue
		}
		for k, vv := range want {
			if !slices.Equal(s.header[k], vv) {
				t.Errorf("request %d: %s = %q, the client sent %q", i, k, s.header[k], vv)
			}
		}
	}
	distinct := map[uintptr]bool{}
	for _, m := range maps {
		distinct[reflect.ValueOf(m).Pointer()] = true
	}
	if len(distinct) == len(maps) {
		t.Errorf("each of %d requests had a header map of its own: nothing was reused", len(maps))
	}
}

// A handler goroutine's streams share its URL (h2Worker): each request's
// URL is its own path and query, whether split here or parsed by net/url,
// none of the request before.
func TestH2RequestURLsDoNotLeakIntoTheNext(t *testing.T) {
	type seen struct{ path, rawPath, query, uri string }
	got := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.RequestURI}
		r.URL.Path += "/changed-by-handler"
	})
	addr, _ := h2ServeOne(t, newH2Server(DefaultLimits(), log.New(io.Discard, "", 0)), h)
	c := h2cClient()
	for _, tc := range []struct{ uri, path, rawPath, query string }{
		{"/one?q=1", "/one", "", "q=1"},
		{"/two", "/two", "", ""},
		{"/a%2Fb?x=%20", "/a/b", "/a%2Fb", "x=%20"}, // net/url's
		{"/three", "/three", "", ""},
	} {
		resp, err := c.Get("http://" + addr + tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := <-got
		if s.path != tc.path || s.rawPath != tc.rawPath || s.query != tc.query || s.uri != tc.uri {
			t.Errorf("%s: the handler saw path %q raw %q query %q URI %q", tc.uri, s.path, s.rawPath, s.query, s.uri)
		}
	}
}

// The stream is the largest allocation an HTTP/2 request makes, and the
// allocator rounds it up to a size class: a field added without looking
// at the layout can cost 32 bytes or more per request (the next classes
// are 288 and 320), and every byte brings the next collection nearer.
func TestH2StreamFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(h2Stream{}); n > 256 {
		t.Errorf("h2Stream is %d bytes, over the 256-byte size class: put the new field where it leaves no padding (see the struct's comment), or move a rarely used one out", n)
	}
}
