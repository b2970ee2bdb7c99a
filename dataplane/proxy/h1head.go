package proxy

import (
	"bufio"
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"unsafe"
)

// Parsing an upstream's HTTP/1.1 response head for h1exchange.go, as
// strict as net/http's client: a malformed head is a 502, never guessed at.
// The header fields go straight into the map the client's response is
// built from; all the values of one head share one string and one slice
// backing array (two allocations, whatever the number of fields, and none
// when the head is the same as the connection's last: readFields).

// errBadResponse is a response head this proxy does not accept.
var errBadResponse = errors.New("malformed HTTP/1.1 response head from the upstream")

// maxResponseHead bounds a response head (Transport's default
// MaxResponseHeaderBytes).
const maxResponseHead = 1 << 20

// respHead is what the exchange needs of a response head besides its
// header fields.
type respHead struct {
	status        int
	close         bool  // the connection ends with this response
	contentLength int64 // -1: not given
	chunked       bool
	trailer       []string // the Trailer field's values (announced trailers)
}

// readLine returns the next line without its line ending (CRLF or a bare
// LF, as net/http accepts). The slice is valid until the next read. A
// line longer than the read buffer (a large Content-Security-Policy, say)
// is assembled in pc.long, up to maxResponseHead.
func (pc *h1Conn) readLine() ([]byte, error) {
	line, err := pc.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		pc.long = append(pc.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(pc.long) <= maxResponseHead {
			line, err = pc.br.ReadSlice('\n')
			pc.long = append(pc.long, line...)
		}
		if len(pc.long) > maxResponseHead {
			return nil, errBadResponse
		}
		line = pc.long
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readResponseHead reads a status line and its header fields into h,
// which must be empty, leaving out the hop-by-hop fields.
func (pc *h1Conn) readResponseHead(h http.Header) (respHead, error) {
	head := respHead{contentLength: -1}
	line, err := pc.readLine()
	if err != nil {
		return head, err
	}
	// "HTTP/1.1 200 OK": version, space, three digits, then a space and a
	// reason or nothing.
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return head, errBadResponse
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return head, errBadResponse
		}
		head.status = head.status*10 + int(c-'0')
	}
	if head.status < 100 {
		return head, errBadResponse
	}
	// HTTP/1.0 connections are not reused (keep-alive there is opt-in
	// and rare; not worth the cases).
	head.close = line[7] == '0'
	// Most responses have no hop-by-hop field at all: then none of the
	// lookups and deletes below can find anything.
	hop, err := pc.readFields(h, "")
	if err != nil {
		return head, err
	}
	// The framing is decided from the fields as received, before the ones
	// Connection lists are dropped: an upstream naming Transfer-Encoding or
	// Content-Length there must not make the body's end unknowable (and a
	// pooled connection be reused mid-response). Transport does the same.
	var te []string
	if hop {
		te = h["Transfer-Encoding"]
	}
	if te != nil && line[7] == '1' {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return head, errBadResponse // net/http supports nothing else either
		}
		head.chunked = true
		delete(h, "Content-Length") // chunked framing wins (RFC 9112 6.3)
	}
	if cl := h["Content-Length"]; cl != nil {
		for _, v := range cl {
			if v != cl[0] {
				return head, errBadResponse // conflicting lengths
			}
			n, ok := parseContentLength(v)
			if !ok {
				return head, errBadResponse
			}
			head.contentLength = n
		}
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1] // equal repeats: one goes on
		}
	}
	if head.chunked {
		head.trailer = h["Trailer"]
	}
	if !hop {
		return head, nil
	}
	if v := h["Connection"]; v != nil {
		for _, f := range v {
			for t := range strings.SplitSeq(f, ",") {
				t = strings.TrimSpace(t)
				if strings.EqualFold(t, "close") {
					head.close = true
				} else if t != "" {
					// The framing fields stay: they describe the
					// message, and the client's side is framed anew.
					if k := textproto.CanonicalMIMEHeaderKey(t); k != "Content-Length" {
						delete(h, k)
					}
				}
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
	return head, nil
}

// hopByHop are the fields that describe one connection, never forwarded
// (RFC 9110 7.6.1; the list httputil.ReverseProxy removes).
var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fieldSpan locates one field's name and value in h1Conn.scratch.
type fieldSpan struct{ k0, k1, v0, v1 int }

// readFields reads header (or trailer) fields up to the empty line into
// h, each name prefixed by prefix (http.TrailerPrefix for trailers). hop:
// one of them is a hop-by-hop field (isHopByHop).
func (pc *h1Conn) readFields(h http.Header, prefix string) (hop bool, err error) {
	pc.scratch = pc.scratch[:0]
	var spans []fieldSpan
	var stack [32]fieldSpan
	spans = stack[:0]
	for {
		line, err := pc.readLine()
		if err != nil {
			return false, err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return false, errBadResponse // obsolete line folding
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if !isTokenByte(c) {
				return false, errBadResponse
			}
		}
		if colon <= 0 {
			return false, errBadResponse
		}
		v := line[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		for _, c := range v {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return false, errBadResponse
			}
		}
		if len(pc.scratch)+len(line) > maxResponseHead {
			return false, errBadResponse
		}
		s := fieldSpan{k0: len(pc.scratch)}
		pc.scratch = append(pc.scratch, line[:colon]...)
		s.k1, s.v0 = len(pc.scratch), len(pc.scratch)
		pc.scratch = append(pc.scratch, v...)
		s.v1 = len(pc.scratch)
		spans = append(spans, s)
	}
	if len(spans) == 0 {
		return false, nil
	}
	// A backend answers the same head again and again (only Date moves,
	// once a second): the last head's string is used again when the bytes
	// are the same (keptString), and so is the values array made from it
	// when the fields are cut at the same places too (the bytes alone do
	// not say: scratch has no separators). Neither is ever written after
	// it is made: each field's value slice is capacity-limited, so a
	// filter's append (HeaderMutation.Apply) copies it, and an overwrite
	// replaces the slice, not its element. Code that wrote a header value
	// in place (h[k][0] = v) would change other responses: there is none,
	// and there must be none.
	last := unsafe.StringData(pc.lastBlock)
	block := keptString(pc.scratch, &pc.lastBlock)
	vals := pc.lastVals
	if unsafe.StringData(block) != last || !slices.Equal(spans, pc.lastSpans) {
		vals = make([]string, len(spans))
		for i, s := range spans {
			vals[i] = block[s.v0:s.v1]
		}
		pc.lastVals, pc.lastSpans = nil, pc.lastSpans[:0]
		if unsafe.StringData(block) == unsafe.StringData(pc.lastBlock) { // kept
			pc.lastVals, pc.lastSpans = vals, append(pc.lastSpans, spans...)
		}
	}
	for i, s := range spans {
		k := block[s.k0:s.k1]
		if !isCanonicalKey(k) {
			k = textproto.CanonicalMIMEHeaderKey(k)
		}
		if prefix != "" {
			k = prefix + k
		}
		hop = hop || isHopByHop(k)
		if prior, ok := h[k]; ok {
			h[k] = append(prior, vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	if cap(pc.scratch) > 64<<10 || cap(pc.long) > 64<<10 {
		// Do not keep an unusually large head's buffers.
		pc.scratch, pc.long = nil, nil
	}
	return hop, nil
}

// isCanonicalKey: already in textproto's canonical form ("Content-Type"),
// so that it can be used as is.
func isCanonicalKey(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}
