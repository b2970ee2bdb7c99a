package proxy

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// The downstream HTTP/1.1 loop (h1serve.go) parses request heads itself,
// but only the plain, well-formed subset that needs no judgement: an
// HTTP/1.1 request line with an origin-form target, token field names,
// one valid Host, at most one Content-Length and none of the fields that
// change the framing or the exchange (Transfer-Encoding, Expect, Upgrade,
// CONNECT). Anything else is not rejected here: the connection goes to
// net/http's server with every byte replayed, which answers it as it always
// did. So the loop can only be as strict as net/http or stricter, never
// more lenient, and the fuzz differential in h1parse_fuzz_test.go checks
// that whatever parseH1Head accepts, http.ReadRequest reads the same.

// h1Verdict is what parseH1Head made of a buffer.
type h1Verdict int

const (
	h1More     h1Verdict = iota // the head is not complete yet
	h1Parsed                    // a request the loop serves
	h1Handover                  // anything else: net/http's server answers it
)

// h1Head is a parsed request head. Every string is a substring of one
// string made from the head's bytes (one allocation for all of them, and
// none when the head is the same as the connection's last: keptString).
type h1Head struct {
	method, target, path, rawQuery, host string
	contentLength                        int64
	close                                bool // Connection: close
	slowURL                              bool // the target needs url.ParseRequestURI
	size                                 int  // bytes of the head, final CRLF included
}

// parseH1Head parses the head at the start of b into h (fields into hdr,
// which must be empty). from is where the search for the head's end may
// start (the part of b already searched, minus 3). kept is the
// connection's last head (keptString; nil: none kept).
func parseH1Head(b []byte, from int, hdr http.Header, h *h1Head, kept *string) h1Verdict {
	end := bytes.Index(b[from:], crlfcrlf)
	// A bare LF ends lines for net/http: its business.
	scan := len(b)
	if end >= 0 {
		scan = from + end + len(crlfcrlf)
	}
	for i := from; i < scan; i++ {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			return h1Handover
		}
	}
	if end < 0 {
		return h1More
	}
	end += from + len(crlfcrlf)
	s := keptString(b[:end], kept)
	*h = h1Head{size: end, contentLength: 0}

	line, rest := cutLine(s)
	if !parseRequestLine(line, h) {
		return h1Handover
	}
	// Count the fields first: one backing array for all their values,
	// each value a capacity-limited slice of it (as net/textproto does).
	n := 0
	for i := len(line) + 2; i < len(s)-2; i++ {
		if s[i] == '\n' {
			n++
		}
	}
	vals := make([]string, n)
	hostSeen := false
	for rest != "\r\n" {
		line, rest = cutLine(rest)
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return h1Handover // an empty name or obs-fold
		}
		colon := -1
		canonical := true
		upper := true
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == ':' {
				colon = i
				break
			}
			if !isTokenByte(c) {
				return h1Handover
			}
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				canonical = false
			}
			upper = c == '-'
		}
		if colon <= 0 {
			return h1Handover
		}
		key := line[:colon]
		if !canonical {
			key = textproto.CanonicalMIMEHeaderKey(key)
		}
		v := trimOWS(line[colon+1:])
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
				return h1Handover
			}
		}
		switch key {
		case "Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Content-Length":
			if key != "Content-Length" || hdr[key] != nil {
				return h1Handover
			}
			cl, ok := parseDigits(v)
			if !ok {
				return h1Handover
			}
			h.contentLength = cl
		case "Connection":
			if !h.close && httpguts.HeaderValuesContainsToken([]string{v}, "close") {
				h.close = true
			}
		case "Host":
			// Kept out of the map (Request.Host carries it): one, valid.
			if hostSeen || !httpguts.ValidHostHeader(v) {
				return h1Handover
			}
			h.host, hostSeen = v, true
			continue
		}
		vals[0] = v
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, v)
		} else {
			hdr[key] = vals[:1:1]
		}
		vals = vals[1:]
	}
	if !hostSeen {
		return h1Handover
	}
	return h1Parsed
}

var crlfcrlf = []byte("\r\n\r\n")

// maxKeptHead bounds the head a connection keeps for the next (keptString):
// larger ones are rare and not worth holding.
const maxKeptHead = 1 << 10

// keptString returns b as a string. A client or a backend on one
// connection often sends the same head again and again (a load balancer's
// or a poller's requests; a backend's responses, whose Date moves once a
// second): when b is the same as *kept, *kept itself is returned and
// nothing is allocated. Otherwise a new string is made, and kept for the
// next when it is small. Strings are immutable, so sharing one between
// requests is safe whatever outlives which. kept may be nil.
func keptString(b []byte, kept *string) string {
	if kept == nil {
		return string(b)
	}
	if string(b) == *kept { // compared without a conversion
		return *kept
	}
	s := string(b)
	if len(s) <= maxKeptHead {
		*kept = s
	}
	return s
}

// cutLine splits s at its first CRLF. A bare LF or CR stays in the line,
// where the checks above refuse it.
func cutLine(s string) (line, rest string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return s[:i], s[i+2:]
		}
	}
	return s, ""
}

// parseRequestLine takes "METHOD SP origin-form SP HTTP/1.1".
func parseRequestLine(line string, h *h1Head) bool {
	const proto = " HTTP/1.1"
	if len(line) < len(proto) || line[len(line)-len(proto):] != proto {
		return false
	}
	line = line[:len(line)-len(proto)]
	sp := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			sp = i
			break
		}
		if !isTokenByte(line[i]) {
			return false
		}
	}
	if sp <= 0 {
		return false
	}
	h.method = internMethod(line[:sp])
	if h.method == http.MethodConnect {
		return false
	}
	t := line[sp+1:]
	if t == "" || t[0] != '/' {
		return false // asterisk- and absolute-form, or a second space
	}
	h.target = t
	q := len(t)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		if c == '?' && q == len(t) {
			q = i
			continue
		}
		if q == len(t) && !pathByteAsIs(c) {
			h.slowURL = true
		}
	}
	h.path = t[:q]
	if q < len(t) {
		h.rawQuery = t[q+1:]
		if h.rawQuery == "" {
			h.slowURL = true // ForceQuery
		}
	}
	return true
}

// pathByteAsIs reports whether url.URL keeps c in a path as it is (no
// RawPath, no unescaping): unreserved and the sub-delimiters it leaves.
func pathByteAsIs(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '/', '$', '&', '+', ',', ':', ';', '=', '@':
		return true
	}
	return false
}

// url is the request's URL: built directly for the common target, by
// url.ParseRequestURI (net/http's parser) otherwise.
func (h *h1Head) url(u *url.URL) (*url.URL, bool) {
	if h.slowURL {
		p, err := url.ParseRequestURI(h.target)
		return p, err == nil
	}
	*u = url.URL{Path: h.path, RawQuery: h.rawQuery}
	return u, true
}

// internMethod returns the constant for the usual methods, so that the
// string does not keep the head alive after the request.
func internMethod(m string) string {
	for _, k := range [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace} {
		if m == k {
			return k
		}
	}
	return m
}

// trimOWS removes the spaces and tabs around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseDigits parses a Content-Length: decimal digits only, below 2^62.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
