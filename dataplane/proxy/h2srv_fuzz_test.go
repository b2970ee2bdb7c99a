package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2FuzzServer is the data plane's HTTP/2 server (with its h2Guard) on a
// loopback listener, with handlers that read bodies, stream, flush, set
// trailers, answer 1xx, write beyond the flow-control windows and panic.
// It counts the connections and handlers still running.
type h2FuzzServer struct {
	addr     string
	running  atomic.Int64 // serveConn calls and handlers not returned
	mu       sync.Mutex
	panicked any // a panic outside the handlers' deliberate ones
}

func startH2FuzzServer(t testing.TB) *h2FuzzServer {
	t.Helper()
	lim := DefaultLimits()
	lim.IdleTimeout = time.Minute
	lim.RequestHeadersTimeout = time.Minute
	srv := newH2Server(lim, log.New(io.Discard, "", 0))
	fs := &h2FuzzServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.running.Add(1)
		defer fs.running.Add(-1)
		switch r.URL.Path {
		case "/echo":
			buf := make([]byte, 1000)
			for {
				n, err := r.Body.Read(buf)
				w.Write(buf[:n])
				w.(http.Flusher).Flush()
				if err != nil {
					return
				}
			}
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("body"))
			w.Header().Set("X-Sum", "1")
			w.Header().Set(http.TrailerPrefix+"X-Late", "2")
		case "/big":
			w.Write(make([]byte, 200<<10))
		case "/early":
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		case "/panic":
			panic(http.ErrAbortHandler)
		default:
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fs.running.Add(1)
			go func() {
				defer fs.running.Add(-1)
				defer func() {
					if v := recover(); v != nil {
						fs.mu.Lock()
						fs.panicked = v
						fs.mu.Unlock()
					}
				}()
				g := newH2Guard(c, len(h2Preface), lim.MaxRequestHeaderBytes, nil)
				srv.serveConn(g, nil, context.Background(), h, false)
			}()
		}
	}()
	fs.addr = ln.Addr().String()
	return fs
}

// h2FuzzPaths are the handlers a HEADERS op picks from.
var h2FuzzPaths = []string{"/", "/echo", "/trailer", "/big", "/early", "/panic", "", "*", "x"}

// writeH2FuzzFrames turns data into client frames: each op byte picks a
// frame type, the next bytes its stream, flags and payload. Illegal frames
// are allowed: the point is what the server does with them.
func writeH2FuzzFrames(fr *http2.Framer, data []byte) {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	streamID := func() uint32 {
		b := next()
		if b >= 0xf0 {
			return uint32(b & 0x0f) // 0, even and other odd ids
		}
		return uint32(b%16)*2 + 1
	}
	block := func() []byte {
		hbuf.Reset()
		p := h2FuzzPaths[int(next())%len(h2FuzzPaths)]
		flags := next()
		if flags&1 == 0 {
			enc.WriteField(hpack.HeaderField{Name: ":method", Value: []string{"GET", "POST", "HEAD", "CONNECT"}[flags>>1&3]})
		}
		if flags&8 == 0 {
			enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
		}
		if flags&16 == 0 {
			enc.WriteField(hpack.HeaderField{Name: ":path", Value: p})
		}
		if flags&32 == 0 {
			enc.WriteField(hpack.HeaderField{Name: ":authority", Value: []string{"a.test", "b@c", "x y", ""}[int(next())%4]})
		}
		if flags&64 != 0 {
			enc.WriteField(hpack.HeaderField{Name: "content-length", Value: []string{"0", "5", "100000", "x"}[int(next())%4]})
		}
		if flags&128 != 0 {
			enc.WriteField(hpack.HeaderField{Name: []string{"connection", "te", "trailer", "expect", "Upper"}[int(next())%5],
				Value: []string{"close", "trailers", "x-t", "100-continue"}[int(next())%4]})
		}
		return bytes.Clone(hbuf.Bytes())
	}
	for len(data) > 0 {
		switch op := next(); op % 11 {
		case 0: // HEADERS
			id := streamID()
			fl := next()
			b := block()
			split := int(next()) % (len(b) + 1)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:split], EndStream: fl&1 != 0,
				EndHeaders: split == len(b) || fl&2 != 0, PadLength: fl >> 4,
				Priority: http2.PriorityParam{StreamDep: uint32(next() % 4), Weight: 1}})
			if split < len(b) && fl&2 == 0 {
				fr.WriteContinuation(id, true, b[split:])
			}
		case 1: // DATA
			id := streamID()
			fl := next()
			n := int(next()) * 64
			if fl&4 != 0 {
				fr.WriteDataPadded(id, fl&1 != 0, make([]byte, n), make([]byte, fl>>3))
			} else {
				fr.WriteData(id, fl&1 != 0, make([]byte, n))
			}
		case 2:
			fr.WriteRSTStream(streamID(), http2.ErrCode(next()%14))
		case 3:
			inc := uint32(next())<<24 | uint32(next())<<8 | uint32(next())
			fr.WriteWindowUpdate(streamID()&^0x80000000, inc)
		case 4:
			ids := []http2.SettingID{http2.SettingInitialWindowSize, http2.SettingMaxFrameSize, http2.SettingHeaderTableSize,
				http2.SettingEnablePush, http2.SettingMaxConcurrentStreams, 0x99}
			var s []http2.Setting
			for range int(next()) % 4 {
				s = append(s, http2.Setting{ID: ids[int(next())%len(ids)], Val: uint32(next())<<24 | uint32(next())<<8 | uint32(next())})
			}
			if next()&1 == 0 {
				fr.WriteSettings(s...)
			} else {
				fr.WriteSettingsAck()
			}
		case 5:
			fr.WritePing(next()&1 == 1, [8]byte{next()})
		case 6:
			fr.WriteContinuation(streamID(), next()&1 == 1, block())
		case 7:
			fr.WritePriority(streamID(), http2.PriorityParam{StreamDep: uint32(next() % 8), Weight: next()})
		case 8:
			fr.WriteGoAway(uint32(next()), http2.ErrCode(next()%14), nil)
		case 9:
			n := int(next())
			fr.WriteRawFrame(http2.FrameType(next()%12), http2.Flags(next()), streamID(), make([]byte, n))
		case 10: // trailers on an open stream
			hbuf.Reset()
			enc.WriteField(hpack.HeaderField{Name: []string{"x-t", ":path", "content-length"}[int(next())%3], Value: "v"})
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID(), BlockFragment: bytes.Clone(hbuf.Bytes()),
				EndStream: next()&1 == 0, EndHeaders: true})
		}
	}
}

// readH2FuzzOutput copies what the server writes on c into out until the
// server closes or the read deadline passes. Once the server's GOAWAY has
// come, it stops reading a little later, as a client that is done would
// close: the server answers a GOAWAY and then waits for the client to
// close (h2GoAwayLinger, a second), and a fuzz input that waited for the
// deadline every time would run some five times a second.
func readH2FuzzOutput(c net.Conn, out *bytes.Buffer) error {
	fr := http2.NewFramer(nil, io.TeeReader(c, out))
	fr.SetMaxReadFrameSize(1 << 24)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) || errors.Is(err, http2.ErrFrameTooLarge) {
				// A frame the Framer refuses: the check after the
				// exchange judges it; keep copying.
				_, err = io.Copy(out, c)
			}
			return err
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			// The streams the GOAWAY lets finish are the server's own
			// handlers on loopback: well within 20 ms.
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		}
	}
}

// FuzzH2FrameLoop sends random frame sequences to the data plane's HTTP/2
// server over a real loopback connection and checks that it neither
// panics nor leaves a goroutine behind once the client is gone, and that
// everything it writes parses as HTTP/2 frames.
func FuzzH2FrameLoop(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0, 1, 1, 0, 0, 0},                 // GET /
		{0, 1, 0, 1, 64, 0, 0, 1, 1, 1, 3}, // POST /echo with DATA
		{0, 3, 1, 3, 0, 0, 0},              // /big: beyond the windows
		{4, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3, 0, 0, 0},          // SETTINGS window 0, then /big
		{0, 5, 1, 2, 0, 0, 0, 2, 5, 8},                         // /trailer, RST
		{0, 1, 0, 2, 64, 1, 0, 1, 1, 0, 10, 1, 0, 0},           // POST /trailer with trailers
		{0, 1, 1, 5, 0, 0, 0, 0, 3, 1, 0, 0, 0},                // panic, then a stream
		{0, 1, 1, 4, 0, 0, 0, 5, 0, 9, 3, 2, 1, 3},             // 1xx, PING, raw frame
		{3, 0, 0xff, 0xff, 0xff, 0xf0, 3, 0xff, 0xff, 0xff, 1}, // window overflows
		{6, 1, 0, 0, 0, 0, 7, 1, 1, 8, 0, 0},                   // stray CONTINUATION, PRIORITY, GOAWAY
	} {
		f.Add(seed)
	}
	fs := startH2FuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", fs.addr)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		readDone := make(chan error, 1)
		go func() { readDone <- readH2FuzzOutput(c, &out) }()
		var in bytes.Buffer
		in.WriteString(http2.ClientPreface)
		fr := http2.NewFramer(&in, nil)
		fr.AllowIllegalWrites = true
		fr.WriteSettings()
		writeH2FuzzFrames(fr, data)
		// A client GOAWAY makes the server close once its streams are
		// done; one blocked on a window the client never opens ends when
		// the client gives up reading.
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		// Before the write: the reader shortens it once the server's
		// GOAWAY is there.
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		c.Write(in.Bytes())
		<-readDone
		c.Close()

		rf := http2.NewFramer(nil, bytes.NewReader(out.Bytes()))
		rf.SetMaxReadFrameSize(1 << 24)
		for {
			fr, err := rf.ReadFrame()
			if err == nil {
				if testing.Verbose() {
					t.Log(fr)
				}
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the client stopped reading mid-frame
			}
			t.Fatalf("the server wrote an invalid frame: %v", err)
		}

		// Liveness, not timing: the connection's goroutine and every
		// handler end once the client is gone.
		deadline := time.Now().Add(10 * time.Second)
		for fs.running.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := fs.running.Load(); n != 0 {
			t.Fatalf("%d connection or handler goroutines still running after the client left", n)
		}
		fs.mu.Lock()
		p := fs.panicked
		fs.mu.Unlock()
		if p != nil {
			t.Fatalf("the connection's goroutine panicked: %v", p)
		}
	})
}
