package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamLog records the stream every request of a connection was served
// on. It keeps the pointers, so the collector cannot free a stream and
// hand its memory to a later one: a pointer seen twice is a stream reused.
type streamLog struct {
	mu  sync.Mutex
	sts map[*h2Stream][]string // stream -> the paths it served, in order
}

func (l *streamLog) note(w http.ResponseWriter, path string) {
	st := w.(*h2ResponseWriter).st
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sts == nil {
		l.sts = map[*h2Stream][]string{}
	}
	l.sts[st] = append(l.sts[st], path)
}

// reuseHandler answers every request with its own path, after what the
// path asks for: /deadline arms a write deadline (a timer that resets the
// stream), /body reads the request body, /hang waits until the client
// goes away.
func reuseHandler(l *streamLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.note(w, r.URL.Path)
		switch {
		case strings.HasPrefix(r.URL.Path, "/deadline"):
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Hour))
		case strings.HasPrefix(r.URL.Path, "/body"):
			io.Copy(io.Discard, r.Body)
		case strings.HasPrefix(r.URL.Path, "/hang"):
			<-r.Context().Done()
			return
		}
		io.WriteString(w, r.URL.Path)
	})
}

// TestH2StreamsAreReused: a connection serves its next streams on the
// ones that ended as most do (no request body, no timer, not reset), and
// never on one that had a body, a timer, or was reset: something may
// still reach those. Without reuse, 60 requests took 60 streams.
func TestH2StreamsAreReused(t *testing.T) {
	var l streamLog
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	addr, _ := h2ServeCounting(t, srv, reuseHandler(&l))
	c := h2cClient()
	do := func(method, path string, body io.Reader) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, body)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != path {
			t.Fatalf("%s %s answered %q", method, path, got)
		}
	}
	const plain = 60
	for i := range plain {
		switch i % 10 {
		case 3:
			do("GET", fmt.Sprintf("/deadline/%d", i), nil)
		case 6:
			do("POST", fmt.Sprintf("/body/%d", i), strings.NewReader("some body"))
		case 8:
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/hang/%d", addr, i), nil)
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
			if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
				t.Fatalf("a request its client cancelled: %v", err)
			}
		}
		do("GET", fmt.Sprintf("/plain/%d", i), nil)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	reused := 0
	for _, paths := range l.sts {
		reused += len(paths) - 1
		for i, p := range paths[:len(paths)-1] {
			if !strings.HasPrefix(p, "/plain/") {
				t.Errorf("the stream of %s served %s afterwards: only a stream that ended as most do is reused", p, paths[i+1])
			}
		}
	}
	// Each plain request's stream is kept once its handler and the reader
	// are done with it; the next request may come before the handler is.
	if reused < plain/2 {
		t.Errorf("%d requests on %d streams: %d reused, want most of the %d plain ones", plain+plain*3/10, len(l.sts), reused, plain)
	}
	t.Logf("%d streams served %d requests", len(l.sts), reused+len(l.sts))
}

// TestH2ReusedStreamsUnderConcurrency: many streams at once on one
// connection, plain and with bodies, some cancelled by the client: every
// answer is its own request's (a stream reused while something still used
// it would mix them up; run under -race, it would also be a race).
func TestH2ReusedStreamsUnderConcurrency(t *testing.T) {
	var l streamLog
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	addr, _ := h2ServeCounting(t, srv, reuseHandler(&l))
	c := h2cClient()
	// One connection (the listener accepts one): up before the others ask.
	if resp, err := c.Get("http://" + addr + "/plain/first"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	const clients, each = 16, 60
	var wg sync.WaitGroup
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/plain/%d/%d", g, i)
				var body io.Reader
				method := "GET"
				switch (g + i) % 7 {
				case 2:
					path, method, body = fmt.Sprintf("/body/%d/%d", g, i), "POST", strings.NewReader(strings.Repeat("x", 5000))
				case 4:
					path = fmt.Sprintf("/deadline/%d/%d", g, i)
				case 5:
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/hang/%d/%d", addr, g, i), nil)
					if resp, err := c.Do(req); err == nil {
						resp.Body.Close()
					}
					cancel()
					continue
				}
				req, _ := http.NewRequest(method, "http://"+addr+path, body)
				resp, err := c.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != path {
					t.Errorf("%s %s answered %q", method, path, got)
				}
			}
		}()
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, paths := range l.sts {
		n += len(paths)
		for i, p := range paths[:len(paths)-1] {
			if !strings.HasPrefix(p, "/plain/") {
				t.Errorf("the stream of %s served %s afterwards: only a stream that ended as most do is reused", p, paths[i+1])
			}
		}
	}
	if len(l.sts) >= n {
		t.Errorf("%d requests on %d streams: none reused", n, len(l.sts))
	}
	t.Logf("%d streams served %d requests", len(l.sts), n)
}
