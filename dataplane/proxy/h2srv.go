package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// h2Conn is one HTTP/2 connection of an h2Server. Its goroutine (serve)
// reads and processes the frames; every stream's handler runs in its own
// goroutine and writes its frames itself through out (h2srvout.go).
type h2Conn struct {
	srv        *h2Server
	conn       net.Conn // what frames are read from (the h2Guard)
	br         *bufio.Reader
	fr         *http2.Framer
	hdr        *h2HeaderReader // HEADERS blocks into MetaHeadersFrames
	handler    http.Handler
	baseCtx    context.Context
	tlsState   *tls.ConnectionState // nil on h2c
	remoteAddr string
	out        h2Out
	canon      map[string]string // canonical header keys seen (reader only)
	canonBytes int               // canon's size, with h2CanonEntryOverhead per entry
	readSeq    atomic.Uint64     // reads from conn so far
	running    atomic.Int32      // handlers in serveStream (h2Out.unlockLast)

	// Reader-only state.
	maxClientID   uint32 // highest stream id the client opened
	sawSettings   bool
	readerWrote   bool         // frames the reader buffered without flushing
	startedBatch  bool         // handlers started since the reader last lined them up (h2srvorder.go)
	done          []h2Released // releaseFinished's scratch
	errorGoingOut bool         // a connection error GOAWAY was sent: discarding

	// Receive-side flow control, under out.mu: what the client may still
	// send on the connection, and what it consumed that we have not
	// returned yet.
	inAvail, inUnsent int32

	mu         sync.Mutex
	streams    map[uint32]*h2Stream // streams open to the protocol
	open       int                  // streams counted against MaxConcurrentStreams
	handlers   int                  // handler goroutines running
	waiting    []h2Job              // streams whose handler waits for a slot
	workers    []chan h2Job         // idle handler goroutines (h2srvworkers.go)
	reqSpares  []h2ReqSpare         // emptied request header maps (h2srvworkers.go)
	spareSts   []*h2Stream          // ended streams nothing uses, for new ones (h2srvreuse.go)
	goingAway  bool                 // GOAWAY sent: no new streams
	closed     bool
	idleTimer  *time.Timer
	firstReqAt bool   // the first request head arrived (read header timeout off)
	lastOpened uint32 // maxClientID, for goAwayGracefully from other goroutines
	// The last streams we reset (RST_STREAM sent): the client may have
	// sent their trailers before it saw the reset.
	resetIDs [h2ResetMemory]uint32
	resetN   int
}

// h2ResetMemory is how many streams reset by the server are remembered.
const h2ResetMemory = 64

// noteResetLocked remembers a stream we reset.
func (c *h2Conn) noteResetLocked(id uint32) {
	c.resetIDs[c.resetN%h2ResetMemory] = id
	c.resetN++
}

// wasResetLocked reports whether we reset the stream recently.
func (c *h2Conn) wasResetLocked(id uint32) bool {
	for _, r := range c.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

// Timeouts and bounds of the frame loop.
const (
	// h2GoAwayLinger is how long a connection that sent a connection
	// error keeps reading (and discarding) before it closes, so that the
	// client reads the GOAWAY before a reset.
	h2GoAwayLinger = time.Second
	// h2MaxCanonCache bounds the per-connection header key cache.
	h2MaxCanonCache = 256
	// h2MaxCanonCacheBytes bounds its size: names, keys and an estimate
	// of the map's overhead per entry.
	h2MaxCanonCacheBytes = 8 << 10
	h2CanonEntryOverhead = 64
	// h2MaxWaitingFactor: streams reset before their handler started may
	// queue up to this many times MaxConcurrentStreams, then the client
	// is told to calm down (x/net/http2's bound).
	h2MaxWaitingFactor = 4
)

// serveConn serves one HTTP/2 connection until it ends. conn is read and
// written; sawPreface says whether the client preface was consumed already
// (h2c prior knowledge through net/http).
func (s *h2Server) serveConn(conn net.Conn, tlsState *tls.ConnectionState, baseCtx context.Context, h http.Handler, sawPreface bool) {
	if baseCtx == nil {
		baseCtx = context.Background()
	}
	c := &h2Conn{
		srv:        s,
		conn:       conn,
		handler:    h,
		baseCtx:    baseCtx,
		tlsState:   tlsState,
		remoteAddr: conn.RemoteAddr().String(),
		streams:    map[uint32]*h2Stream{},
		canon:      map[string]string{},
		inAvail:    s.connWin,
	}
	c.br = bufio.NewReaderSize(h2CountingReader{conn, &c.readSeq}, 16<<10)
	c.out.init(conn, &c.readSeq)
	c.out.stall = s.stallTimeout
	c.fr = http2.NewFramer(nil, c.br)
	c.hdr = newH2HeaderReader(s.decoderTable, s.maxHeaderList)
	c.fr.SetMaxReadFrameSize(s.maxFrame)
	c.fr.SetReuseFrames()
	accepting := s.track(c)
	defer s.untrack(c)
	defer c.close()
	defer c.watchBase()()

	if s.headerTimeout > 0 {
		conn.SetReadDeadline(time.Now().Add(s.headerTimeout))
	}
	if !sawPreface {
		var p [len(h2Preface)]byte
		if _, err := io.ReadFull(c.br, p[:]); err != nil || string(p[:]) != h2Preface {
			return
		}
	}
	c.out.lock()
	c.out.fr.WriteSettings(s.settings()...)
	if d := s.connWin - 65535; d > 0 {
		c.out.fr.WriteWindowUpdate(0, uint32(d))
	}
	c.out.unlock()
	if !accepting {
		c.goAwayGracefully()
	}
	c.mu.Lock()
	c.startIdleTimerLocked()
	c.mu.Unlock()

	for {
		c.beforeRead()
		f, err := c.fr.ReadFrame()
		if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
			f, err = c.hdr.read(c.fr, hf)
		}
		if err != nil {
			if c.readError(err) {
				continue
			}
			return
		}
		if err := c.processFrame(f); err != nil {
			if !c.frameError(err) {
				return
			}
		}
		if c.readerWrote && c.readerBacklog() {
			// A client that makes us answer (PING, SETTINGS, frames on
			// closed streams) and does not read: as x/net/http2's bound
			// on queued control frames.
			c.connError(http2.ErrCodeEnhanceYourCalm)
			return
		}
	}
}

// h2MaxReaderBacklog bounds what the connection may have buffered and
// unwritten when the frame reader adds to it.
const h2MaxReaderBacklog = 1 << 20

func (c *h2Conn) readerBacklog() bool {
	c.out.mu.Lock()
	n := len(c.out.buf.b)
	c.out.mu.Unlock()
	return n > h2MaxReaderBacklog
}

// h2CountingReader counts the reads of the frame reader (readSeq).
type h2CountingReader struct {
	r   io.Reader
	seq *atomic.Uint64
}

func (r h2CountingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.seq.Add(1)
	return n, err
}

// beforeRead ends a batch of frames once no whole frame is buffered, that
// is before the reader might block: it lines up the handlers the batch
// started (h2srvorder.go), and writes the reader's own frames
// (acknowledgements, window updates, resets): frames read together are
// answered together.
func (c *h2Conn) beforeRead() {
	if !c.readerWrote && !c.startedBatch {
		return
	}
	if n := c.br.Buffered(); n >= frameHeaderLen {
		if h, err := c.br.Peek(frameHeaderLen); err == nil {
			if length := int(h[0])<<16 | int(h[1])<<8 | int(h[2]); n >= frameHeaderLen+length {
				return
			}
		}
	}
	if c.startedBatch {
		c.startedBatch = false
		lineUpHandlers()
	}
	if c.readerWrote {
		c.readerWrote = false
		c.out.flushAsync()
	}
}

// readError handles an error of ReadFrame: true if the loop goes on.
func (c *h2Conn) readError(err error) bool {
	var se http2.StreamError
	switch {
	case errors.As(err, &se):
		// A malformed header block (Framer's checks) or a stream-level
		// frame error: the stream is reset, the connection goes on. A
		// HEADERS frame still opened its stream id.
		if se.StreamID > c.maxClientID && se.StreamID%2 == 1 {
			c.opened(se.StreamID)
		}
		c.resetStream(se.StreamID, se.Code)
		return true
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.connError(http2.ErrCodeFrameSize)
	default:
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			c.connError(http2.ErrCode(ce))
		}
		// io.EOF, a network error, a read deadline, a flood defence: the
		// connection just ends.
	}
	return false
}

// frameError handles the error of processing one frame: true if the loop
// goes on.
func (c *h2Conn) frameError(err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		c.resetStream(se.StreamID, se.Code)
		return true
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		c.connError(http2.ErrCode(ce))
	}
	return false
}

// connError tells the client why the connection ends (GOAWAY) and lets it
// read that before the close.
func (c *h2Conn) connError(code http2.ErrCode) {
	c.mu.Lock()
	c.goingAway = true
	c.mu.Unlock()
	c.out.mu.Lock()
	c.out.fr.WriteGoAway(c.maxClientID, code, nil)
	c.out.mu.Unlock()
	c.out.flushAsync()
	c.conn.SetReadDeadline(time.Now().Add(h2GoAwayLinger))
	io.Copy(io.Discard, c.br)
}

// processFrame applies one frame (RFC 9113 sections 5 and 6, and what
// x/net/http2's server checks on top of the Framer).
func (c *h2Conn) processFrame(f http2.Frame) error {
	if !c.sawSettings {
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
	}
	if id := f.Header().StreamID; id%2 == 1 && id > c.maxClientID && c.isGoingAway() {
		// A stream the client opened after our GOAWAY (it had not seen it
		// yet): its HEADERS were ignored, so are its other frames, not a
		// connection error on an idle stream that would end the streams
		// the GOAWAY promised to finish. DATA still counts against the
		// connection's window, returned at once (RFC 9113 section 6.8).
		if d, ok := f.(*http2.DataFrame); ok {
			if !c.takeInflow(nil, int32(d.Length)) {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			c.returnInflow(nil, int32(d.Length), true)
		}
		return nil
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if f.StreamID != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.out.mu.Lock()
		c.out.fr.WritePing(true, f.Data)
		c.out.mu.Unlock()
		c.readerWrote = true
		return nil
	case *http2.RSTStreamFrame:
		if c.idle(f.StreamID) {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if st := c.stream(f.StreamID); st != nil {
			c.closeStream(st, errStreamReset{f.ErrCode}, true)
		}
		return nil
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		c.answerGoAway()
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return nil // unknown and extension frames are ignored
	}
}

// isGoingAway reports whether GOAWAY was sent (no new streams).
func (c *h2Conn) isGoingAway() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goingAway
}

// idle reports whether a stream id was never opened by the client.
func (c *h2Conn) idle(id uint32) bool { return id%2 == 1 && id > c.maxClientID || id%2 == 0 && id != 0 }

func (c *h2Conn) stream(id uint32) *h2Stream {
	c.mu.Lock()
	st := c.streams[id]
	c.mu.Unlock()
	return st
}

func (c *h2Conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if f.NumSettings() > 100 || f.HasDuplicates() {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	c.mu.Lock()
	c.out.mu.Lock()
	var err error
	f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingInitialWindowSize:
			d := int32(s.Val) - c.out.initWin
			c.out.initWin = int32(s.Val)
			for _, st := range c.streams {
				w := int64(st.sendWin) + int64(d)
				if w > 1<<31-1 {
					err = http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				st.sendWin = int32(w)
			}
			c.out.cond.Broadcast()
		case http2.SettingMaxFrameSize:
			c.out.maxFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.out.enc.SetMaxDynamicTableSize(min(s.Val, h2MaxEncoderTable))
		}
		return nil
	})
	if err == nil {
		c.out.fr.WriteSettingsAck()
		c.readerWrote = true
	}
	c.out.mu.Unlock()
	c.mu.Unlock()
	return err
}

func (c *h2Conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		c.out.mu.Lock()
		defer c.out.mu.Unlock()
		if int64(c.out.connWin)+int64(f.Increment) > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.out.connWin += int32(f.Increment)
		c.out.cond.Broadcast()
		return nil
	}
	if c.idle(f.StreamID) {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st := c.stream(f.StreamID)
	if st == nil {
		return nil // a closed stream: allowed (RFC 9113 section 6.9)
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if int64(st.sendWin)+int64(f.Increment) > 1<<31-1 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	st.sendWin += int32(f.Increment)
	c.out.cond.Broadcast()
	return nil
}

// resetStream sends RST_STREAM and closes the stream if it is open.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) {
	st := c.stream(id)
	if st != nil {
		if !c.closeStream(st, errStreamReset{code}, true) {
			return // closed meanwhile by its handler: nothing to reset
		}
		c.noteServerReset(id)
	}
	c.mu.Lock()
	c.noteResetLocked(id)
	c.mu.Unlock()
	c.out.mu.Lock()
	c.out.fr.WriteRSTStream(id, code)
	c.out.mu.Unlock()
	c.readerWrote = true
}

// noteServerReset tells the connection's guard (h2guard.go) that the
// client's protocol error made us reset an open stream.
func (c *h2Conn) noteServerReset(id uint32) {
	if g, ok := c.conn.(interface{ serverReset(uint32) }); ok {
		g.serverReset(id)
	}
}

// goAwayGracefully sends GOAWAY(NO_ERROR) naming the last stream that
// will be served: open streams finish, newer ones are ignored, and the
// connection closes when none is left.
func (c *h2Conn) goAwayGracefully() {
	if c.sendGoAway() {
		c.out.closeWhenFlushed()
	}
}

// answerGoAway answers the client's GOAWAY with ours. The client may
// still send frames after its GOAWAY (a PING, the rest of a request body)
// and read the answers (RFC 9113 6.8; h2spec generic/3.8 and http2/7 send
// a PING next): with nothing open, the connection ends when the client
// closes it or after h2GoAwayLinger, as x/net/http2's does, not at once,
// which would race the PING's answer.
func (c *h2Conn) answerGoAway() {
	if c.sendGoAway() {
		c.conn.SetReadDeadline(time.Now().Add(h2GoAwayLinger))
	}
}

// sendGoAway writes GOAWAY(NO_ERROR) naming the last stream that will be
// served, once; true if nothing is open, so the connection may end.
func (c *h2Conn) sendGoAway() (done bool) {
	c.mu.Lock()
	if c.goingAway || c.closed {
		c.mu.Unlock()
		return false
	}
	c.goingAway = true
	last := c.maxClientIDLocked()
	done = len(c.streams) == 0 && c.handlers == 0
	c.mu.Unlock()
	// Flushed by another goroutine: this may be the frame reader, which
	// must never wait for a client that does not read.
	c.out.mu.Lock()
	c.out.fr.WriteGoAway(last, http2.ErrCodeNo, nil)
	c.out.mu.Unlock()
	c.out.flushAsync()
	return done
}

// maxClientIDLocked is the highest stream id opened. The reader writes
// maxClientID; it is also published under mu for goAwayGracefully.
func (c *h2Conn) maxClientIDLocked() uint32 { return c.lastOpened }

// opened records id as the highest stream id the client opened.
func (c *h2Conn) opened(id uint32) {
	c.maxClientID = id
	c.mu.Lock()
	c.lastOpened = id
	c.mu.Unlock()
}

// startIdleTimerLocked arms the idle timeout of a connection without
// streams.
func (c *h2Conn) startIdleTimerLocked() {
	if c.srv.idleTimeout <= 0 || c.closed {
		return
	}
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(c.srv.idleTimeout, c.onIdle)
		return
	}
	c.idleTimer.Reset(c.srv.idleTimeout)
}

func (c *h2Conn) onIdle() {
	c.mu.Lock()
	idle := len(c.streams) == 0 && c.handlers == 0
	c.mu.Unlock()
	if idle {
		c.goAwayGracefully()
	}
}

// close ends the connection: every stream is cancelled, writers fail.
func (c *h2Conn) close() {
	c.mu.Lock()
	c.closed = true
	streams := make([]*h2Stream, 0, len(c.streams))
	for _, st := range c.streams {
		streams = append(streams, st)
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.endWorkersLocked()
	c.mu.Unlock()
	for _, st := range streams {
		c.closeStream(st, errH2ConnClosed, true)
	}
	c.out.fail(errH2ConnClosed)
	c.conn.Close()
}
