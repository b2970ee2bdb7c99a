package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// h2ResponseWriter is a stream's http.ResponseWriter, with x/net/http2's
// semantics: the header is snapshot at WriteHeader; the body is buffered
// up to h2ChunkSize and sent on Flush, when the buffer is full and when
// the handler returns (then with a Content-Length if it all fitted);
// Content-Type is sniffed when unset; trailers are declared by a Trailer
// header or set under http.TrailerPrefix. Writes encode frames into the
// connection's buffer from the handler's goroutine (h2Out).
type h2ResponseWriter struct {
	st *h2Stream
	c  *h2Conn

	handlerHeader http.Header
	// The header as WriteHeader saw it (x/net/http2 clones the map): the
	// fields to send, in HTTP/2 form, and what the first write needs.
	fields   []h2Field // its array lent by the handler goroutine (h2Spare)
	clen     string    // Content-Length ("" if none or invalid)
	status   int
	buf      *[]byte
	declLen  int64 // the Content-Length the handler set, -1 if none
	wrote    int64
	trailers []string

	// The flags last, together, so that the stream that holds the writer
	// stays in its size class (h2Stream).
	isHead      bool
	hasCL       bool // a Content-Length key (even empty)
	hasType     bool // a Content-Type key
	hasEncoding bool // a non-empty Content-Encoding
	hasDate     bool // a Date key
	closeConn   bool // "Connection: close": GOAWAY after this response
	wroteHeader bool // WriteHeader called (explicitly or not)
	sentHeader  bool // the HEADERS frame was encoded
	done        bool // the handler returned
}

// h2ChunkSize is the body buffered before a write, x/net/http2's size.
const h2ChunkSize = 4 << 10

var h2ChunkPool = sync.Pool{New: func() any { b := make([]byte, 0, h2ChunkSize); return &b }}

var errH2WriteAfterDone = errors.New("http2: ResponseWriter used after its handler returned")

func (w *h2ResponseWriter) Header() http.Header {
	if w.handlerHeader == nil {
		w.handlerHeader = make(http.Header)
	}
	return w.handlerHeader
}

// h2Spare is what a handler goroutine keeps of its last response for its
// next one (runHandler): the header map, emptied, and the array of the
// fields to send. A map and its first group, and the array, are three
// allocations per request otherwise.
type h2Spare struct {
	header http.Header
	fields []h2Field
}

// h2KeepFields bounds the header map and the field array a handler
// goroutine keeps: a larger response's are not held for the connection's
// life.
const h2KeepFields = 16

// lend gives the writer what the goroutine kept.
func (w *h2ResponseWriter) lend(sp *h2Spare) {
	w.handlerHeader, w.fields = sp.header, sp.fields
	*sp = h2Spare{}
}

// giveBack takes the writer's header map and field array, emptied, for
// the goroutine's next response. The handler has returned and the
// response's header was encoded (handlerDone): no one reads them any
// more, as a handler must not use its ResponseWriter after returning.
func (w *h2ResponseWriter) giveBack(sp *h2Spare) {
	if h := w.handlerHeader; h != nil && len(h) <= h2KeepFields {
		clear(h)
		sp.header = h
	}
	if f := w.fields; f != nil && cap(f) <= h2KeepFields {
		clear(f)
		sp.fields = f[:0]
	}
	w.handlerHeader, w.fields = nil, nil
}

func (w *h2ResponseWriter) WriteHeader(code int) {
	if w.wroteHeader || w.done {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 {
		// Informational: sent at once, the header map stays (RFC 8297).
		h := w.handlerHeader
		_, cl := h["Content-Length"]
		_, te := h["Transfer-Encoding"]
		if cl || te {
			h = h.Clone()
			delete(h, "Content-Length")
			delete(h, "Transfer-Encoding")
		}
		w.c.writeInformational(w.st, code, h)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.declLen = -1
	w.snapshot()
}

// h2Field is one response header field in HTTP/2 form (lower-case name).
type h2Field struct{ name, value string }

// snapshot records the header at WriteHeader: the fields to send and
// what the first write decides with (Content-Length, Content-Type,
// Content-Encoding, Date, Trailer, Connection), as x/net/http2 does from
// its clone of the map, without the clone.
func (w *h2ResponseWriter) snapshot() {
	w.fields = w.fields[:0]
	for k, vv := range w.handlerHeader {
		switch k {
		case "Content-Length":
			w.hasCL = true
			if len(vv) > 0 && vv[0] != "" {
				w.hasCL = false // x/net/http2 drops it and sends its own
				if n, err := strconv.ParseUint(vv[0], 10, 63); err == nil {
					w.clen, w.declLen = vv[0], int64(n)
				}
			}
			continue
		case "Content-Type":
			w.hasType = true
		case "Content-Encoding":
			w.hasEncoding = len(vv) > 0 && vv[0] != ""
		case "Date":
			w.hasDate = true
		case "Trailer":
			for _, v := range vv {
				for t := range strings.SplitSeq(v, ",") {
					w.declareTrailer(strings.TrimSpace(t))
				}
			}
		case "Connection":
			// "Connection: close" from a handler ends the connection
			// gracefully, as it would on HTTP/1.1.
			w.closeConn = len(vv) > 0 && vv[0] == "close"
			continue
		}
		name, ok := h2WireName(k)
		if !ok {
			continue
		}
		for _, v := range vv {
			if h2ValidValue(name, v) {
				w.fields = append(w.fields, h2Field{name, v})
			}
		}
	}
}

func (w *h2ResponseWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errH2WriteAfterDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.wrote += int64(len(p))
	if w.declLen >= 0 && w.wrote > w.declLen {
		return 0, errors.New("http2: handler wrote more than declared Content-Length")
	}
	if w.buf == nil {
		w.buf = h2ChunkPool.Get().(*[]byte)
	}
	b := *w.buf
	if len(b)+len(p) <= cap(b) {
		*w.buf = append(b, p...)
		return len(p), nil
	}
	if len(b) > 0 {
		if err := w.writeChunk(b); err != nil {
			*w.buf = b[:0]
			return 0, err
		}
		*w.buf = b[:0]
	}
	if len(p) >= cap(b) {
		if err := w.writeChunk(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	*w.buf = append((*w.buf)[:0], p...)
	return len(p), nil
}

func (w *h2ResponseWriter) WriteString(s string) (int, error) {
	// Through Write: a string is copied into the chunk buffer anyway.
	if w.buf == nil {
		w.buf = h2ChunkPool.Get().(*[]byte)
	}
	if b := *w.buf; !w.done && w.wroteHeader && bodyAllowedForStatus(w.status) && len(b)+len(s) <= cap(b) &&
		(w.declLen < 0 || w.wrote+int64(len(s)) <= w.declLen) {
		*w.buf = append(b, s...)
		w.wrote += int64(len(s))
		return len(s), nil
	}
	return w.Write([]byte(s))
}

func (w *h2ResponseWriter) Flush() { _ = w.FlushError() }

// FlushError sends what is buffered (the header at least); the frames are
// in the connection's buffer when it returns, written by this goroutine or
// by the one flushing the connection.
func (w *h2ResponseWriter) FlushError() error {
	if w.done {
		return errH2WriteAfterDone
	}
	var p []byte
	if w.buf != nil {
		p = *w.buf
	}
	err := w.writeChunk(p)
	if w.buf != nil {
		*w.buf = p[:0]
	}
	return err
}

// SetReadDeadline bounds the handler's reads of the request body: past
// it they fail with os.ErrDeadlineExceeded (the upstream exchange bounds
// a request body by the route timeout this way).
func (w *h2ResponseWriter) SetReadDeadline(t time.Time) error {
	if b := w.st.body; b != nil {
		b.setReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline resets the stream (INTERNAL_ERROR) at t if the handler
// has not returned by then, as x/net/http2 does; the zero time removes it.
func (w *h2ResponseWriter) SetWriteDeadline(t time.Time) error {
	st := w.st
	st.deadlineMu.Lock()
	defer st.deadlineMu.Unlock()
	if st.writeTimer != nil {
		st.writeTimer.Stop()
		st.writeTimer = nil
	}
	if t.IsZero() {
		return nil
	}
	st.reuse |= h2Timed
	st.writeTimer = time.AfterFunc(max(time.Until(t), 0), func() { w.c.resetFromHandler(st, http2.ErrCodeInternal) })
	return nil
}

// EnableFullDuplex: reading the request body while writing the response
// is always possible here (gRPC's bidirectional streams).
func (w *h2ResponseWriter) EnableFullDuplex() error { return nil }

// handlerDone sends what is left: the header, the buffered body (with its
// length if the handler never flushed), END_STREAM or the trailers.
func (w *h2ResponseWriter) handlerDone() {
	var p []byte
	if w.buf != nil {
		p = *w.buf
	}
	w.done = true
	w.writeChunk(p)
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		h2ChunkPool.Put(w.buf)
		w.buf = nil
	}
}

// writeChunk is x/net/http2's writeChunk: p is body (possibly empty); the
// first call sends the header.
func (w *h2ResponseWriter) writeChunk(p []byte) error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.done {
		w.promoteUndeclaredTrailers()
	}
	o := &w.c.out
	var goAway bool
	o.lock()
	err := w.st.writeErr
	if err == nil {
		err = o.err
	}
	if err == nil {
		goAway, err = w.writeChunkLocked(p)
	}
	if w.done {
		// The handler has returned: serveStream took it out of running
		// before calling handlerDone, so every count left is another
		// handler of the connection (until 2026-11-25 this asked for
		// more than one, and the last response of every batch left in a
		// write of its own).
		o.unlockLast(w.c.running.Load() > 0)
	} else {
		o.unlock()
	}
	if goAway {
		w.c.goAwayGracefully()
	}
	return err
}

func (w *h2ResponseWriter) writeChunkLocked(p []byte) (goAway bool, err error) {
	o := &w.c.out
	if !w.sentHeader {
		w.sentHeader = true
		goAway = w.closeConn
		var ctype string
		clen := w.clen
		if clen == "" && !w.hasCL && w.done && bodyAllowedForStatus(w.status) && (len(p) > 0 || !w.isHead) {
			clen = strconv.Itoa(len(p))
		}
		if !w.hasType && !w.hasEncoding && bodyAllowedForStatus(w.status) && len(p) > 0 {
			ctype = http.DetectContentType(p)
		}
		endStream := w.done && len(w.trailers) == 0 && len(p) == 0 || w.isHead
		o.encodeField(":status", h2Status(w.status))
		for _, f := range w.fields {
			o.encodeField(f.name, f.value)
		}
		if ctype != "" {
			o.encodeField("content-type", ctype)
		}
		if clen != "" {
			o.encodeField("content-length", clen)
		}
		if !w.hasDate {
			o.encodeField("date", h2Date())
		}
		o.writeHeaderBlockLocked(w.st.id, endStream)
		if endStream {
			w.st.endSent = true
			return goAway, nil
		}
	}
	if w.isHead || len(p) == 0 && !w.done {
		return goAway, nil
	}
	trailers := w.done && w.hasNonemptyTrailers()
	if len(p) > 0 || w.done && !trailers {
		if err := w.c.writeDataLocked(w.st, p, w.done && !trailers); err != nil {
			return goAway, err
		}
	}
	if trailers {
		encodeH2Header(o, w.handlerHeader, w.trailers)
		o.writeHeaderBlockLocked(w.st.id, true)
		w.st.endSent = true
	}
	return goAway, nil
}

func (w *h2ResponseWriter) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) || slices.Contains(w.trailers, k) {
		return
	}
	w.trailers = append(w.trailers, k)
}

func (w *h2ResponseWriter) hasNonemptyTrailers() bool {
	for _, k := range w.trailers {
		if _, ok := w.handlerHeader[k]; ok {
			return true
		}
	}
	return false
}

// promoteUndeclaredTrailers makes the "Trailer:"-prefixed header keys
// trailers (http.TrailerPrefix; what gRPC's server sets).
func (w *h2ResponseWriter) promoteUndeclaredTrailers() {
	for k, vv := range w.handlerHeader {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok {
			continue
		}
		w.declareTrailer(name)
		w.handlerHeader[http.CanonicalHeaderKey(name)] = vv
	}
	slices.Sort(w.trailers)
}

// writeDataLocked sends p as DATA frames within the peer's windows and
// frame size, waiting (this stream only) while out of window.
func (c *h2Conn) writeDataLocked(st *h2Stream, p []byte, endStream bool) error {
	o := &c.out
	// Armed at the first wait, pushed back by every frame sent: a stream
	// that can send nothing for the stall timeout is reset (h2MaxStall).
	var stall *time.Timer
	defer func() {
		if stall != nil {
			stall.Stop()
		}
	}()
	armStall := func() {
		if stall == nil && c.srv.stallTimeout > 0 {
			st.reuse |= h2Timed
			stall = time.AfterFunc(c.srv.stallTimeout, func() { c.resetFromHandler(st, http2.ErrCodeInternal) })
		}
	}
	for {
		if st.writeErr != nil {
			return st.writeErr
		}
		if o.err != nil {
			return o.err
		}
		if len(p) == 0 {
			if endStream {
				o.fr.WriteData(st.id, true, nil)
				st.endSent = true
			}
			return nil
		}
		if len(o.buf.b) > h2MaxPending && o.flushing {
			armStall()
			o.cond.Wait()
			continue
		}
		n := min(int64(len(p)), int64(st.sendWin), int64(o.connWin), int64(o.maxFrame))
		if n <= 0 {
			armStall()
			o.waitLocked()
			continue
		}
		if stall != nil {
			stall.Reset(c.srv.stallTimeout)
		}
		st.sendWin -= int32(n)
		o.connWin -= int32(n)
		o.fr.WriteData(st.id, endStream && int(n) == len(p), p[:n])
		p = p[n:]
		if len(p) == 0 {
			st.endSent = endStream
			return nil
		}
		if len(o.buf.b) > h2MaxPending {
			armStall()
			o.waitLocked()
		}
	}
}

// writeInformational sends a 1xx response header.
func (c *h2Conn) writeInformational(st *h2Stream, code int, h http.Header) {
	o := &c.out
	o.lock()
	if st.writeErr == nil && o.err == nil {
		o.encodeField(":status", h2Status(code))
		encodeH2Header(o, h, nil)
		o.writeHeaderBlockLocked(st.id, false)
	}
	o.unlock()
}

// write100Continue answers "Expect: 100-continue" at the first body read.
func (c *h2Conn) write100Continue(st *h2Stream) { c.writeInformational(st, 100, nil) }

// encodeH2Header encodes h (only keys, if set) as HTTP/2 fields: names in
// lower case, invalid names and values and connection-specific fields
// left out (RFC 9113 section 8.2.2).
func encodeH2Header(o *h2Out, h http.Header, keys []string) {
	if keys != nil {
		for _, k := range keys {
			encodeH2Field(o, k, h[k])
		}
		return
	}
	for k, vv := range h {
		encodeH2Field(o, k, vv)
	}
}

func encodeH2Field(o *h2Out, k string, vv []string) {
	name, ok := h2WireName(k)
	if !ok {
		return
	}
	for _, v := range vv {
		if h2ValidValue(name, v) {
			o.encodeField(name, v)
		}
	}
}

// h2WireName is the HTTP/2 field name of a header key, false for a key
// that is not sent: an invalid name or a connection-specific field.
func h2WireName(k string) (string, bool) {
	name, ok := h2LowerKey(k)
	if !ok {
		return "", false
	}
	switch name {
	case "connection", "keep-alive", "proxy-connection", "upgrade":
		return "", false
	}
	return name, true
}

// h2ValidValue reports whether a field value is sent: a valid one, and
// for transfer-encoding only "trailers".
func h2ValidValue(name, v string) bool {
	return httpguts.ValidHeaderFieldValue(v) && (name != "transfer-encoding" || v == "trailers")
}

// h2LowerKey is a header key as an HTTP/2 field name, false if it is not
// a valid one (non-token bytes, such as the ":" of TrailerPrefix keys).
func h2LowerKey(k string) (string, bool) {
	if l, ok := h2CommonLower[k]; ok {
		return l, true
	}
	if k == "" {
		return "", false
	}
	upper := false
	for i := 0; i < len(k); i++ {
		b := k[i]
		if b >= 0x80 || !httpguts.IsTokenRune(rune(b)) {
			return "", false
		}
		if 'A' <= b && b <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return k, true
	}
	return strings.ToLower(k), true
}

// h2CommonLower spares the lower-casing of the usual response fields.
var h2CommonLower = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
		"Date", "Etag", "Expires", "Grpc-Encoding", "Grpc-Message", "Grpc-Status", "Last-Modified",
		"Location", "Server", "Set-Cookie", "Strict-Transport-Security", "Vary", "Via",
		"X-Content-Type-Options", "X-Envoy-Upstream-Service-Time", "X-Frame-Options", "X-Request-Id"} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// h2Status is the :status value of a code.
func h2Status(code int) string {
	switch code {
	case 200:
		return "200"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}

// h2Date is the Date value, formatted once per second.
func h2Date() string {
	now := time.Now()
	sec := now.Unix()
	if d := h2DateCache.Load(); d != nil && d.sec == sec {
		return d.value
	}
	d := &h2DateValue{sec: sec, value: now.UTC().Format(http.TimeFormat)}
	h2DateCache.Store(d)
	return d.value
}

type h2DateValue struct {
	sec   int64
	value string
}

var h2DateCache atomic.Pointer[h2DateValue]
