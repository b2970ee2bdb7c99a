package proxy

import (
	"net"
	"time"
)

// Plain-text HTTP sockets serve HTTP/1.1 and h2c with prior knowledge on
// one port. net/http tells them apart by waiting for 14, then 24 bytes (the
// HTTP/2 preface) before it reads an HTTP/1 request, so a client that sends
// a few bytes of garbage is only dropped when the header timeout fires.
// sniffPlainHTTP reads the first bytes itself and answers 400 at once when
// they can be neither the HTTP/2 preface nor the start of an HTTP/1 request
// line; otherwise it hands the connection on with those bytes replayed, as
// soon as net/http no longer needs to wait for the preface.

// headVerdict is what the first bytes of a plain connection are.
type headVerdict int

const (
	headMore headVerdict = iota // undecided: read more
	headOK                      // HTTP/2 preface, or enough of an HTTP/1 request line
	headBad                     // neither
)

// maxSniff bounds what is read ahead; net/http reads the rest.
const maxSniff = 512

// badRequest is the reply to bytes that cannot be HTTP (net/http's own).
const badRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

// sniffPlainHTTP returns c with its first bytes replayed, or nil after it
// answered 400 (or the client left) and closed c. The read deadline is the
// header timeout; net/http sets its own afterwards.
func sniffPlainHTTP(c net.Conn, timeout time.Duration) net.Conn {
	buf := make([]byte, 0, maxSniff)
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	}
	for {
		switch classifyHead(buf) {
		case headOK:
			c.SetReadDeadline(time.Time{})
			return &replayConn{Conn: c, head: buf}
		case headBad:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(badRequest))
			c.Close()
			return nil
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			c.Close()
			return nil
		}
	}
}

// classifyHead decides on the first bytes b of a plain connection.
func classifyHead(b []byte) headVerdict {
	if len(b) == 0 {
		return headMore
	}
	if len(b) >= len(h2Preface) && string(b[:len(h2Preface)]) == h2Preface {
		return headOK
	}
	if len(b) < len(h2Preface) && string(b) == h2Preface[:len(b)] {
		return headMore
	}
	// A broken preface: net/http would wait for all 24 bytes, and a request
	// line "PRI * HTTP/2.0" is not HTTP/1 either.
	if len(b) >= 14 && string(b[:14]) == h2Preface[:14] {
		return headBad
	}
	v := requestLinePrefix(b)
	if v == headMore && len(b) >= 14 {
		// net/http no longer waits for a preface; the rest of the head is
		// its business (and its header timeout's).
		return headOK
	}
	return v
}

// requestLinePrefix checks b against the start of an HTTP/1 request line
// as net/http parses it: method (token), SP, request-target (no controls or
// spaces), SP, "HTTP/" DIGIT "." DIGIT, optional CR, LF.
func requestLinePrefix(b []byte) headVerdict {
	i := 0
	part := func(ok func(byte) bool) bool { // one or more bytes, then SP
		start := i
		for i < len(b) && b[i] != ' ' {
			if !ok(b[i]) {
				return false
			}
			i++
		}
		return i == len(b) || i > start
	}
	if !part(isTokenByte) {
		return headBad
	}
	if i == len(b) {
		return headMore
	}
	i++ // SP
	if !part(func(c byte) bool { return c > ' ' && c != 0x7f }) {
		return headBad
	}
	if i == len(b) {
		return headMore
	}
	i++ // SP
	const version = "HTTP/d.d"
	for j := 0; j < len(version); j, i = j+1, i+1 {
		if i == len(b) {
			return headMore
		}
		switch want := version[j]; {
		case want == 'd' && (b[i] < '0' || b[i] > '9'), want != 'd' && b[i] != want:
			return headBad
		}
	}
	if i < len(b) && b[i] == '\r' {
		i++
	}
	if i == len(b) {
		return headMore
	}
	if b[i] != '\n' {
		return headBad
	}
	return headOK
}

// isTokenByte reports whether c may appear in an HTTP token (RFC 9110).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// replayConn is a connection whose first bytes were already read.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite keeps net/http's lingering close (and the TCP half-close the
// wrapped downstreamConn offers).
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
