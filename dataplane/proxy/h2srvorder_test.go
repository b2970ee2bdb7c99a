package proxy

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2HandlersStartInArrivalOrder: the handlers of the streams a client
// sent in one write start in the order the streams arrived
// (h2srvorder.go). One P, as the data plane runs; without the line-up the
// last stream's handler started first, before the seven others, in every
// batch.
func TestH2HandlersStartInArrivalOrder(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race the scheduler runs goroutines in a random order; make test runs this without it too")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	var mu sync.Mutex
	var started []string
	c, fr, _ := h2RawServer(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		started = append(started, r.URL.Path)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	frames := h2Frames(fr)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block) // the connection's: its table spans batches
	next := uint32(1)
	batch := func(n int) (sent []string) {
		var b bytes.Buffer
		bf := http2.NewFramer(&b, nil)
		for range n {
			path := "/" + strconv.Itoa(int(next))
			block.Reset()
			enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
			enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
			enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "x"})
			enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
			bf.WriteHeaders(http2.HeadersFrameParam{StreamID: next, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
			sent = append(sent, path)
			next += 2
		}
		mu.Lock()
		started = nil
		mu.Unlock()
		if _, err := c.Write(b.Bytes()); err != nil { // one write: one read for the server
			t.Fatal(err)
		}
		for ended := 0; ended < n; {
			f, ok := <-frames
			if !ok {
				t.Fatal("connection ended")
			}
			switch f := f.(type) {
			case *http2.DataFrame:
				if f.StreamEnded() {
					ended++
				}
			case *http2.RSTStreamFrame, *http2.GoAwayFrame:
				t.Fatalf("%v", f)
			}
		}
		return sent
	}
	batch(8) // warm: the handler goroutines and the line-up's exist
	for round := range 5 {
		sent := batch(8)
		mu.Lock()
		got := slices.Clone(started)
		mu.Unlock()
		if !slices.Equal(got, sent) {
			t.Errorf("batch %d: handlers started %v, streams arrived %v", round, got, sent)
		}
	}
}
