package proxy

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
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
