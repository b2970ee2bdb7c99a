package proxy

import (
	"net/http"
	"net/textproto"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Writer is the loop's http.ResponseWriter. It follows net/http's
// response rules (server.go chunkWriter.writeHeader): the header is
// snapshotted at WriteHeader (only trailers are read later); a response
// whose handler declared no Content-Length gets one when its whole body
// fits the buffer by the time the handler returns, chunked encoding
// otherwise; HEAD, 1xx, 204 and 304 carry no body; Date unless the handler
// set one; Content-Type sniffed when missing; Connection: close when the
// client asked for it, the handler did, the socket is draining or too much
// of the request body is left unread. The head and a body that fits the
// buffer leave in one Write.
type h1Writer struct {
	c      *h1Client
	req    *http.Request
	body   *h1Body
	header http.Header
	fields []headerField // scratch for sorting the fields by name

	status      int
	wroteHeader bool // the final status is set and the head formatted
	committed   bool // framing decided and the head written
	isHEAD      bool
	bodyAllowed bool
	wantsClose  bool // the request said Connection: close
	closeAfter  bool
	chunking    bool

	declaredCL   int64 // -1: none
	hasCT, hasCE bool
	hasDate      bool
	te           string
	connection   []string // the handler's Connection values
	trailerNames []string
	hasTrailers  bool
	written      int64
	head         []byte // status line and fields, until commit
	buf          []byte // the body before commit, pending output after
	err          error  // the connection failed; every later write fails
}

func (w *h1Writer) init(c *h1Client) {
	w.c = c
	w.header = make(http.Header)
	w.head = make([]byte, 0, 512)
	w.buf = make([]byte, 0, h1BufSize)
}

func (w *h1Writer) reset(r *http.Request, body *h1Body) {
	clear(w.header)
	*w = h1Writer{c: w.c, req: r, body: body, header: w.header, fields: w.fields[:0], head: w.head[:0], buf: w.buf[:0],
		isHEAD: r.Method == http.MethodHead, wantsClose: r.Close, declaredCL: -1}
}

func (w *h1Writer) Header() http.Header { return w.header }

func (w *h1Writer) WriteHeader(code int) {
	if w.wroteHeader {
		return // superfluous, as net/http ignores it
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	h := w.header
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An interim response goes out at once.
		out := appendStatusLine(w.head[:0], code)
		out = w.appendFields(out, h, func(k string) bool { return k == "Content-Length" || k == "Transfer-Encoding" })
		out = append(out, "\r\n"...)
		w.writeOut(out)
		w.head = out[:0]
		return
	}
	w.wroteHeader = true
	w.status = code
	w.bodyAllowed = bodyAllowedForStatus(code)
	// One pass over the map: the fields that decide the framing are picked
	// out on the way (by their canonical names, as Header.Get would look
	// them up), the rest collected for writing.
	fields := w.fields[:0]
	for k, vv := range h {
		switch k {
		case "Content-Length":
			if cl := first(vv); cl != "" {
				if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
					w.declaredCL = v
				}
			}
			continue
		case "Transfer-Encoding":
			w.te = first(vv)
			continue
		case "Connection":
			w.connection = vv
			continue
		case "Content-Type":
			w.hasCT = true
			if code == http.StatusNotModified {
				continue
			}
		case "Content-Encoding":
			w.hasCE = first(vv) != ""
		case "Date":
			w.hasDate = true
		case "Trailer":
			w.noteTrailers(vv)
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			w.hasTrailers = true
			continue
		}
		if httpguts.ValidHeaderFieldName(k) {
			fields = append(fields, headerField{k, vv})
		}
	}
	w.head = appendSortedFields(appendStatusLine(w.head[:0], code), fields)
	clear(fields)
	w.fields = fields[:0]
}

// noteTrailers records the trailer names a Trailer field declares.
func (w *h1Writer) noteTrailers(vv []string) {
	for _, v := range vv {
		w.hasTrailers = true
		for t := range strings.SplitSeq(v, ",") {
			t = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(t))
			switch t {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
			default:
				w.trailerNames = append(w.trailerNames, t)
			}
		}
	}
}

// first is a field's first value, as Header.Get returns it.
func first(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.declaredCL >= 0 && w.written+int64(len(p)) > w.declaredCL {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.buf)+len(p) <= cap(w.buf) {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.commit(false)
		if w.err != nil {
			return 0, w.err
		}
	}
	if w.isHEAD || len(p) == 0 {
		return len(p), nil
	}
	if w.chunking {
		w.buf = strconv.AppendInt(w.buf, int64(len(p)), 16)
		w.buf = append(w.buf, "\r\n"...)
	}
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
	} else {
		w.flushOut()
		w.writeOut(p)
	}
	if w.chunking {
		w.buf = append(w.buf, "\r\n"...)
	}
	if len(w.buf) >= h1BufSize/2 {
		w.flushOut()
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

func (w *h1Writer) Flush() { _ = w.FlushError() }

// SetReadDeadline bounds reading the request body (http.ResponseController),
// as net/http's server allows: the exchange applies the route timeout.
func (w *h1Writer) SetReadDeadline(t time.Time) error {
	w.c.readDeadline.forget()
	return w.c.conn.SetReadDeadline(t)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *h1Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	w.flushOut()
	return w.err
}

// finish completes the response after the handler returned; false: the
// connection cannot carry another request.
func (w *h1Writer) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	} else {
		if w.chunking {
			w.buf = w.appendLastChunk(w.buf)
		}
		w.flushOut()
	}
	if w.err != nil {
		return false
	}
	if !w.isHEAD && w.declaredCL >= 0 && w.bodyAllowed && w.written != w.declaredCL {
		return false // the client cannot find the next response
	}
	return !w.closeAfter
}

// commit decides the framing and writes the head with what the body
// buffered. final: the handler has returned, the buffer is the whole body.
func (w *h1Writer) commit(final bool) {
	w.committed = true
	body := w.buf
	if final && !w.hasTrailers && w.te == "" && w.bodyAllowed && w.declaredCL < 0 && (!w.isHEAD || len(body) > 0) {
		w.declaredCL = int64(len(body))
	}
	hasCL := w.declaredCL >= 0
	if w.wantsClose || len(w.connection) > 0 && w.connection[0] == "close" || w.c.s.h1.closing.Load() {
		w.closeAfter = true
	}
	if w.body != nil && w.body.unreadTooLarge() {
		w.closeAfter = true
	}
	out := w.head
	if w.bodyAllowed && !w.hasCT && !w.hasCE && w.te == "" && len(body) > 0 {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(body)...)
		out = append(out, "\r\n"...)
	}
	if !w.hasDate {
		out = append(out, dateLine()...)
	}
	if hasCL && w.te != "" && w.te != "identity" {
		hasCL = false
		w.declaredCL = -1
	}
	switch {
	case w.isHEAD || !w.bodyAllowed || w.status == http.StatusNoContent:
	case hasCL:
	case w.te == "identity":
		w.closeAfter = true
	default:
		w.chunking = true
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	if hasCL && w.bodyAllowed {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, w.declaredCL, 10)
		out = append(out, "\r\n"...)
	}
	if w.closeAfter && !httpguts.HeaderValuesContainsToken(w.connection, "close") {
		out = append(out, "Connection: close\r\n"...)
	} else {
		for _, v := range w.connection {
			out = appendField(out, "Connection", v)
		}
	}
	out = append(out, "\r\n"...)
	if !w.isHEAD && w.bodyAllowed {
		if w.chunking && len(body) > 0 {
			out = strconv.AppendInt(out, int64(len(body)), 16)
			out = append(out, "\r\n"...)
			out = append(out, body...)
			out = append(out, "\r\n"...)
		} else if !w.chunking {
			out = append(out, body...)
		}
		if final && w.chunking {
			out = w.appendLastChunk(out)
		}
	}
	if final {
		// The whole response goes out in this one write: let the other
		// runnable connections (those whose upstream answered in the same
		// poll) reach theirs first, so that the responses leave together.
		// A client (or load generator) asleep in its poll is woken once
		// for the batch instead of once per response; each such wake of a
		// process on another CPU costs this core an interprocessor
		// interrupt, which is expensive in a virtual machine. With nothing
		// else runnable the yield returns at once. See
		// bench/peers/README.md ("Wake-ups").
		runtime.Gosched()
	}
	w.writeOut(out)
	w.head = out[:0]
	w.buf = w.buf[:0]
}

// appendLastChunk ends a chunked body, with the trailers.
func (w *h1Writer) appendLastChunk(out []byte) []byte {
	out = append(out, "0\r\n"...)
	if w.hasTrailers {
		t := make(http.Header)
		for k, vv := range w.header {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				t[strings.TrimPrefix(k, http.TrailerPrefix)] = vv
			}
		}
		for _, k := range w.trailerNames {
			for _, v := range w.header[k] {
				t.Add(k, v)
			}
		}
		out = w.appendFields(out, t, func(string) bool { return false })
	}
	return append(out, "\r\n"...)
}

func (w *h1Writer) flushOut() {
	if len(w.buf) > 0 {
		w.writeOut(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *h1Writer) writeOut(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.c.conn.Write(b); err != nil {
		w.err = err
		w.closeAfter = true
	}
}

// headerField is one name of a header map with its values.
type headerField struct {
	name   string
	values []string
}

// appendFields writes h's fields in sorted order, as http.Header.Write,
// skipping invalid names and those skip names.
func (w *h1Writer) appendFields(out []byte, h http.Header, skip func(string) bool) []byte {
	fields := w.fields[:0]
	for k, vv := range h {
		if !skip(k) && httpguts.ValidHeaderFieldName(k) {
			fields = append(fields, headerField{k, vv})
		}
	}
	out = appendSortedFields(out, fields)
	clear(fields)
	w.fields = fields[:0]
	return out
}

// appendSortedFields sorts fields by name and writes them: the values
// come with the names, so the map is not looked up again per name.
func appendSortedFields(out []byte, fields []headerField) []byte {
	sortFields(fields)
	for _, f := range fields {
		for _, v := range f.values {
			out = appendField(out, f.name, v)
		}
	}
	return out
}

// sortFields sorts fields by name. A response has a handful of fields,
// which an insertion sort with the names compared in place orders in
// fewer instructions than slices.SortFunc, whose comparisons go through a
// function value (0.6% of the data plane's CPU under the peer benchmark's
// HTTP/1.1 load); the names are distinct map keys, so stability is moot.
func sortFields(fields []headerField) {
	if len(fields) > 12 {
		slices.SortFunc(fields, func(a, b headerField) int { return strings.Compare(a.name, b.name) })
		return
	}
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].name < fields[j-1].name; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
}

// appendField writes "k: v" with v's line breaks made spaces and its
// surrounding white space trimmed (http.Header.Write does the same).
func appendField(out []byte, k, v string) []byte {
	if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 { // faster than ContainsAny for short values
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	v = textproto.TrimString(v)
	out = append(out, k...)
	out = append(out, ": "...)
	out = append(out, v...)
	return append(out, "\r\n"...)
}

func appendStatusLine(out []byte, code int) []byte {
	if code == http.StatusOK {
		return append(out, "HTTP/1.1 200 OK\r\n"...)
	}
	out = append(out, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		out = strconv.AppendInt(out, int64(code), 10)
		out = append(out, ' ')
		out = append(out, text...)
		return append(out, "\r\n"...)
	}
	out = append(out, strconv.Itoa(1000 + code)[1:]...)
	out = append(out, " status code "...)
	out = strconv.AppendInt(out, int64(code), 10)
	return append(out, "\r\n"...)
}

// bodyAllowedForStatus is net/http's: 1xx, 204 and 304 have no body.
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// dateLine is "Date: <now>\r\n", formatted once per second.
func dateLine() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.line
	}
	d := &dateCache{sec: sec, line: now.UTC().AppendFormat([]byte("Date: "), http.TimeFormat)}
	d.line = append(d.line, "\r\n"...)
	cachedDate.Store(d)
	return d.line
}

type dateCache struct {
	sec  int64
	line []byte
}

var cachedDate atomic.Pointer[dateCache]
