package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// h2Stream is one request and its response.
//
// It is allocated per request, the largest allocation an HTTP/2 request
// makes, so its fields are ordered to leave no padding: the words first,
// then the 32-bit counters, then the flags. That keeps it in the 256-byte
// size class (TestH2StreamFitsItsSizeClass); 8 bytes more and it would
// take 288, and with the padding it had, 320. Each field's lock is named
// where it is.
type h2Stream struct {
	c    *h2Conn
	body *h2Body // nil without a request body

	// The stream cancels its request's context (h2srvctx.go) when it
	// closes while its handler runs, and is the client-gone hook of the
	// upstream exchange. Under goneMu: ctx, abort and gone.
	goneMu sync.Mutex
	ctx    *h2Ctx // the request's context while the handler runs (bind)
	abort  func() // onGone's, until the stream closes or stopOnGone

	rw h2ResponseWriter // the handler's, allocated with the stream

	// Reader only: declLen, gotLen, trailer and gotTrailers.
	declLen int64 // request Content-Length, -1 if none
	gotLen  int64 // request body bytes received
	trailer http.Header

	deadlineMu sync.Mutex
	writeTimer *time.Timer // SetWriteDeadline

	// Under c.out.mu: writeErr, sendWin, inAvail, inUnsent and endSent.
	writeErr error // set when the stream is closed: writes fail

	id       uint32
	sendWin  int32 // what the client lets us send
	inAvail  int32 // what the client may still send
	inUnsent int32 // what was consumed and not yet returned

	gone        bool // the stream closed (goneMu)
	gotTrailers bool // (reader)
	endSent     bool // the response's END_STREAM is written or buffered (c.out.mu)

	// Under c.mu.
	closed     bool // no longer open to the protocol (out of streams)
	counted    bool // counts against MaxConcurrentStreams
	remoteDone bool // the client ended its side (END_STREAM)

	// What reuse needs to know (h2srvreuse.go); one byte, as the flags
	// above fill the struct's last word but for two bytes.
	reuse h2Reuse
}

// errStreamReset is a stream closed by RST_STREAM (either side).
type errStreamReset struct{ code http2.ErrCode }

func (e errStreamReset) Error() string { return "http2: stream reset: " + e.code.String() }

var errStreamDone = errors.New("http2: stream closed: the handler returned")

func (c *h2Conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		remoteDone := st.remoteDone
		c.mu.Unlock()
		if remoteDone {
			// Both sides sent END_STREAM: the stream is closed to the
			// protocol (RFC 9113 section 5.1) even while its handler has
			// not taken it out of the map yet. Only a half-closed one gets
			// a stream error.
			c.out.mu.Lock()
			closed := st.endSent
			c.out.mu.Unlock()
			if closed {
				return http2.ConnectionError(http2.ErrCodeStreamClosed)
			}
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		}
		return c.processTrailers(st, f)
	}
	c.mu.Unlock()
	if id <= c.maxClientID {
		c.mu.Lock()
		reset := c.wasResetLocked(id)
		c.mu.Unlock()
		if reset {
			// Trailers the client sent before it saw our RST_STREAM:
			// ignored (RFC 9113 section 5.1, "closed"), not a connection
			// error that would end its other streams.
			return nil
		}
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.releaseFinished()

	// From the GOAWAY check to the stream's start under mu: a graceful
	// GOAWAY (from another goroutine) either names this stream and finds
	// it started, or comes first and the stream is not served.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goingAway || c.closed {
		return nil // after GOAWAY: newer streams are not served (RFC 9113 6.8)
	}
	c.maxClientID, c.lastOpened = id, id
	if !c.firstReqAt {
		// The read header timeout covered the preface and the first
		// request head; from here the idle timeout applies.
		c.firstReqAt = true
		c.conn.SetReadDeadline(time.Time{})
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if uint32(c.open) >= c.srv.maxStreams {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}

	st := c.newStreamLocked()
	st.c, st.id, st.counted, st.remoteDone = c, id, true, f.StreamEnded()
	var head h2ReqHead
	needsContinue, err := c.newRequest(f, &head)
	if err != nil {
		return err
	}
	handler := c.handler
	if f.Truncated {
		handler = http.HandlerFunc(h2HeaderListTooLong)
	} else if err := checkH2RequestHeaders(head.header); err != nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, err.Error(), http.StatusBadRequest) })
	}

	st.declLen = head.contentLength
	if head.trailer != nil {
		st.trailer = make(http.Header)
	}
	if !f.StreamEnded() {
		st.body = &h2Body{st: st, needsContinue: needsContinue, reqTrailer: head.trailer}
		st.body.cond.L = &st.body.mu
	}
	st.rw = h2ResponseWriter{st: st, c: c, isHead: head.method == "HEAD"}
	rw := &st.rw

	c.out.mu.Lock()
	st.sendWin = c.out.initWin
	st.inAvail = c.srv.streamWin
	c.out.mu.Unlock()

	c.streams[id] = st
	c.open++
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	job := h2Job{st, rw, head, handler}
	if c.handlers < int(c.srv.maxStreams) {
		c.handlers++
		c.startHandlerLocked(job)
		c.startedBatch = true
		return nil
	}
	if len(c.waiting) > h2MaxWaitingFactor*int(c.srv.maxStreams) {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	c.waiting = append(c.waiting, job)
	return nil
}

// newRequest reads the request of a HEADERS frame into *head, with
// x/net/http2's validation (RFC 9113 section 8.3); a malformed request is
// a stream error. The handler goroutine makes the http.Request of it
// (h2Worker.request).
// The request's URL is split into head.url (copied into the handler
// goroutine's own) when the path is simple enough to be split without
// net/url. Its header map is a kept one when the connection has one (c.mu
// is held), given back when the handler returns (h2ReqSpare).
func (c *h2Conn) newRequest(f *http2.MetaHeadersFrame, head *h2ReqHead) (needsContinue bool, err error) {
	bad := http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
	var method, scheme, authority, path, protocol string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		case ":protocol":
			protocol = hf.Value
		}
	}
	if protocol != "" { // extended CONNECT is not offered
		return false, bad
	}
	isConnect := method == "CONNECT"
	if isConnect {
		if path != "" || scheme != "" || authority == "" {
			return false, bad
		}
	} else if method == "" || path == "" || scheme != "https" && scheme != "http" {
		return false, bad
	}
	regular := f.RegularFields()
	head.spare = c.takeReqSpareLocked(len(regular))
	header := head.spare.header
	// One backing array for the values; a repeated field appends to its
	// own slice (capped, so it never writes into its neighbour's).
	values := head.spare.values
	for i, hf := range regular {
		k := c.canonicalKey(hf.Name)
		if vv, ok := header[k]; ok {
			header[k] = append(vv, hf.Value)
			continue
		}
		values[i] = hf.Value
		header[k] = values[i : i+1 : i+1]
	}
	if httpguts.HeaderValuesContainsToken(header["Expect"], "100-continue") {
		needsContinue = true
		delete(header, "Expect")
	}
	if cookies := header["Cookie"]; len(cookies) > 1 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	var trailer http.Header
	for _, v := range header["Trailer"] {
		for key := range strings.SplitSeq(v, ",") {
			key = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(key))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
			default:
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[key] = nil
			}
		}
	}
	delete(header, "Trailer")
	if host := header["Host"]; len(host) == 1 {
		if authority == "" {
			authority = host[0]
		} else if host[0] != authority {
			return false, bad
		}
		delete(header, "Host")
	} else if len(host) > 1 {
		return false, bad
	}
	if strings.IndexByte(authority, '@') >= 0 && (scheme == "http" || scheme == "https") {
		return false, bad
	}
	if authority != "" && !httpguts.ValidHostHeader(authority) {
		return false, bad
	}
	var requestURI string
	var simple url.URL
	var parsed *url.URL
	if isConnect {
		simple = url.URL{Host: authority}
		requestURI = authority
	} else {
		if path[0] != '/' && path != "*" {
			return false, bad
		}
		if !splitSimplePath(path, &simple) {
			if parsed, err = url.ParseRequestURI(path); err != nil {
				return false, bad
			}
		}
		requestURI = path
	}
	*head = h2ReqHead{method: method, url: simple, parsedURL: parsed, header: header, host: authority,
		requestURI: requestURI, trailer: trailer, tls: scheme == "https", spare: head.spare}
	if !f.StreamEnded() {
		head.contentLength = -1
		if vv, ok := header["Content-Length"]; ok {
			head.contentLength = 0
			if cl, err := strconv.ParseUint(vv[0], 10, 63); err == nil {
				head.contentLength = int64(cl)
			}
		}
	}
	return needsContinue, nil
}

// splitSimplePath sets *u to what url.ParseRequestURI(path) returns when
// path's part before any '?' holds only characters that need no escaping
// in a path (letters, digits, "-._~" and "/$&+,:;=@") and the whole has no
// control character; false otherwise (net/url parses it). Most request
// paths are such, and this saves the URL's allocation: the request's is
// its handler goroutine's (h2Worker).
func splitSimplePath(path string, u *url.URL) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	q := len(path)
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '?' {
			q = i
			break
		}
		if !simplePathByte[c] {
			return false
		}
	}
	*u = url.URL{Path: path[:q]}
	if q == len(path) {
		return true
	}
	for i := q + 1; i < len(path); i++ {
		if c := path[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	u.RawQuery = path[q+1:]
	u.ForceQuery = u.RawQuery == ""
	return true
}

// simplePathByte: the bytes splitSimplePath lets through a path.
var simplePathByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~/$&+,:;=@" {
		t[c] = true
	}
	return t
}()

// canonicalKey is http.CanonicalHeaderKey, cached per connection (HPACK
// gives a new string per field; most names repeat).
func (c *h2Conn) canonicalKey(name string) string {
	if k, ok := c.canon[name]; ok {
		return k
	}
	k := http.CanonicalHeaderKey(name)
	// Bounded in bytes too (as x/net/http2's 2 KiB): a name may be as long
	// as the header list, and a client sending new long names would make
	// the connection keep them all.
	if size := h2CanonEntryOverhead + len(name) + len(k); len(c.canon) < h2MaxCanonCache && c.canonBytes+size <= h2MaxCanonCacheBytes {
		c.canon[name] = k
		c.canonBytes += size
	}
	return k
}

// h2ConnHeaders are connection-specific fields (RFC 9113 section 8.2.2).
var h2ConnHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// checkH2RequestHeaders refuses connection-specific fields and a TE other
// than "trailers" (answered 400, as x/net/http2 does).
func checkH2RequestHeaders(h http.Header) error {
	for _, k := range h2ConnHeaders {
		if _, ok := h[k]; ok {
			return fmt.Errorf("request header %q is not valid in HTTP/2", k)
		}
	}
	if te := h["Te"]; len(te) > 0 && (len(te) > 1 || te[0] != "trailers" && te[0] != "") {
		return errors.New(`request header "TE" may only be "trailers" in HTTP/2`)
	}
	return nil
}

// h2HeaderListTooLong answers a request whose header list was beyond
// SETTINGS_MAX_HEADER_LIST_SIZE.
func h2HeaderListTooLong(w http.ResponseWriter, r *http.Request) {
	const msg = "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>"
	w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
	w.Write([]byte(msg))
}

// processTrailers applies a second HEADERS frame of a stream: the request
// trailers, which must end the stream.
func (c *h2Conn) processTrailers(st *h2Stream, f *http2.MetaHeadersFrame) error {
	if st.gotTrailers {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st.gotTrailers = true
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	if st.trailer != nil {
		for _, hf := range f.RegularFields() {
			k := c.canonicalKey(hf.Name)
			if !httpguts.ValidTrailerHeader(k) {
				return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
			}
			st.trailer[k] = append(st.trailer[k], hf.Value)
		}
	}
	return c.endStream(st)
}

// endStream is the client's END_STREAM: the body ends (with the
// Content-Length check) and the stream is half closed (remote). A body
// shorter than its Content-Length makes the request malformed: the stream
// is reset with PROTOCOL_ERROR (RFC 9113 section 8.1.1), so that no
// truncated request goes on as a complete one.
func (c *h2Conn) endStream(st *h2Stream) error {
	if b := st.body; b != nil {
		if st.declLen != -1 && st.declLen != st.gotLen {
			c.resetMalformed(st, fmt.Errorf("request declared a Content-Length of %d but only wrote %d bytes", st.declLen, st.gotLen))
			return nil
		}
		b.closeWith(nil, st.trailer)
	}
	c.mu.Lock()
	st.remoteDone = true
	c.mu.Unlock()
	return nil
}

// resetMalformed resets a stream whose request body broke its
// Content-Length: the stream is closed (its writes fail) before the
// handler sees the body's error, so it cannot answer first.
func (c *h2Conn) resetMalformed(st *h2Stream, err error) {
	if !c.closeStream(st, err, true) {
		return
	}
	c.noteServerReset(st.id)
	c.mu.Lock()
	c.noteResetLocked(st.id)
	c.mu.Unlock()
	c.out.mu.Lock()
	c.out.fr.WriteRSTStream(st.id, http2.ErrCodeProtocol)
	c.out.mu.Unlock()
	c.readerWrote = true
}

func (c *h2Conn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	if c.idle(id) {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	length := int32(f.Length)
	c.mu.Lock()
	st := c.streams[id]
	usable := st != nil && !st.remoteDone && !st.gotTrailers
	c.mu.Unlock()
	if !usable {
		// Closed or half closed (remote): the connection's window is
		// still enforced, and returned at once.
		if !c.takeInflow(nil, length) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.returnInflow(nil, length, true)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	data := f.Data()
	if st.declLen != -1 && st.gotLen+int64(len(data)) > st.declLen {
		if !c.takeInflow(nil, length) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		c.returnInflow(nil, length, true)
		c.resetMalformed(st, fmt.Errorf("sender tried to send more than declared Content-Length of %d bytes", st.declLen))
		return nil
	}
	if length > 0 {
		if !c.takeInflow(st, length) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
		}
		if len(data) > 0 {
			st.gotLen += int64(len(data))
			if !st.body.write(data) {
				// The handler closed the body: the connection's window
				// comes back, the stream's does not.
				c.returnInflow(nil, int32(len(data)), true)
			}
		}
		if pad := length - int32(len(data)); pad > 0 {
			c.returnInflow(st, pad, true)
		}
	}
	if f.StreamEnded() {
		return c.endStream(st)
	}
	return nil
}

// h2MinRefresh is the least window credit worth a WINDOW_UPDATE, unless
// the peer's window is lower than what we owe (x/net/http2's rule).
const h2MinRefresh = 4 << 10

// takeInflow charges a received DATA frame to the connection's window and
// the stream's (st nil: the connection's only); false if the client sent
// beyond them.
func (c *h2Conn) takeInflow(st *h2Stream, n int32) bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if c.inAvail < n || st != nil && st.inAvail < n {
		return false
	}
	c.inAvail -= n
	if st != nil {
		st.inAvail -= n
	}
	return true
}

// returnInflow gives back n bytes of window (consumed or discarded) to the
// connection and, with st, to the stream, sending WINDOW_UPDATE frames
// once they are worth it. fromReader: the frame reader flushes them later.
func (c *h2Conn) returnInflow(st *h2Stream, n int32, fromReader bool) {
	if n <= 0 {
		return
	}
	o := &c.out
	if fromReader {
		o.mu.Lock() // not queued: the reader leaves its frames to flushAsync
	} else {
		o.lock()
	}
	c.inUnsent += n
	if c.inUnsent >= h2MinRefresh || c.inUnsent >= c.inAvail {
		o.fr.WriteWindowUpdate(0, uint32(c.inUnsent))
		c.inAvail += c.inUnsent
		c.inUnsent = 0
	}
	if st != nil && st.writeErr == nil {
		st.inUnsent += n
		if st.inUnsent >= h2MinRefresh || st.inUnsent >= st.inAvail {
			o.fr.WriteWindowUpdate(st.id, uint32(st.inUnsent))
			st.inAvail += st.inUnsent
			st.inUnsent = 0
		}
	}
	if fromReader {
		o.mu.Unlock()
		c.readerWrote = true
		return
	}
	o.unlock()
}

// closeStream takes a stream out of the protocol: its context is
// cancelled, its body and writes fail with err (unread body bytes go back
// to the connection's window). False if it was closed already. fromReader:
// called by the frame reader.
func (c *h2Conn) closeStream(st *h2Stream, err error, fromReader bool) bool {
	c.mu.Lock()
	if st.closed {
		c.mu.Unlock()
		return false
	}
	st.closed = true
	if err == errStreamDone {
		st.reuse |= h2Retired
	}
	c.uncountLocked(st)
	delete(c.streams, st.id)
	c.mu.Unlock()
	st.cancelAndAbort()
	c.out.mu.Lock()
	st.writeErr = err
	c.out.cond.Broadcast()
	c.out.mu.Unlock()
	if st.body != nil {
		if unread := st.body.abort(err); unread > 0 {
			c.returnInflow(nil, int32(unread), fromReader)
		}
	}
	return true
}

func (c *h2Conn) serveStream(st *h2Stream, rw *h2ResponseWriter, req *http.Request, handler http.Handler) {
	didPanic := true
	c.running.Add(1)
	defer func() {
		// First: the stream's end (retire, a reset) no longer cancels the
		// request's context, which its goroutine keeps for its next stream.
		st.unbind()
		c.running.Add(-1)
		if didPanic {
			e := recover()
			if e != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.log.Printf("http2: panic serving %v: %v\n%s", c.remoteAddr, e, buf)
			}
			c.resetFromHandler(st, http2.ErrCodeInternal)
		} else {
			rw.handlerDone()
			c.out.finished(st)
			c.retire(st)
		}
		if st.body != nil {
			st.body.stopTimer()
			st.body.Close()
		}
		st.deadlineMu.Lock()
		if st.writeTimer != nil {
			st.writeTimer.Stop()
		}
		st.deadlineMu.Unlock()
		if req.MultipartForm != nil {
			req.MultipartForm.RemoveAll()
		}
	}()
	handler.ServeHTTP(rw, req)
	didPanic = false
}

// releaseFinished stops counting the streams whose last frames were
// written before the frame being processed was read: the client may have
// seen them end before it opened a new one; a stream whose end was written
// later still counts, as it did when the client sent its frame. (Frames a
// client sent together are judged together, as x/net/http2's serial loop
// does, whatever the handlers' goroutines did meanwhile.)
func (c *h2Conn) releaseFinished() {
	r := c.readSeq.Load()
	o := &c.out
	o.mu.Lock()
	n := 0
	for n < len(o.released) && o.released[n].seq < r {
		n++
	}
	c.done = append(c.done[:0], o.released[:n]...)
	// The rest moves to the front: the array is kept (slicing the front
	// off would shrink its capacity until append allocates a new one).
	m := copy(o.released, o.released[n:])
	clear(o.released[m:])
	o.released = o.released[:m]
	o.mu.Unlock()
	if len(c.done) == 0 {
		return
	}
	c.mu.Lock()
	for _, f := range c.done {
		c.uncountLocked(f.st)
		f.st.reuse |= h2ReaderGone
		c.keepStreamLocked(f.st)
	}
	c.mu.Unlock()
	clear(c.done)
}

func (c *h2Conn) uncountLocked(st *h2Stream) {
	if st.counted {
		st.counted = false
		c.open--
	}
}

// retire ends a stream whose handler returned and whose response was
// written: a client still sending gets RST_STREAM(NO_ERROR) (RFC 9113
// section 8.1).
func (c *h2Conn) retire(st *h2Stream) {
	c.mu.Lock()
	remoteDone := st.remoteDone
	c.mu.Unlock()
	if remoteDone {
		c.closeStream(st, errStreamDone, false)
		return
	}
	c.resetFromHandler(st, http2.ErrCodeNo)
}

// resetFromHandler closes a stream and sends RST_STREAM from a handler's
// goroutine.
func (c *h2Conn) resetFromHandler(st *h2Stream, code http2.ErrCode) {
	if !c.closeStream(st, errStreamReset{code}, false) {
		return
	}
	c.mu.Lock()
	c.noteResetLocked(st.id)
	c.mu.Unlock()
	c.out.lock()
	c.out.fr.WriteRSTStream(st.id, code)
	c.out.unlock()
}
