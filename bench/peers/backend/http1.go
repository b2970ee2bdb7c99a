package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// responses are the pre-rendered answers, re-rendered once a second because
// an origin server with a clock must send Date (RFC 9110, 6.6.1).
type responses struct {
	cur  atomic.Pointer[responseSet]
	done chan struct{}
}

type responseSet struct {
	keepAlive, closing []byte
	// keepAliveHead and closingHead are the header lengths: HEAD answers
	// send the headers only.
	keepAliveHead, closingHead int
}

func newResponses(body []byte) *responses {
	r := &responses{done: make(chan struct{})}
	r.render(body, time.Now())
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				r.render(body, now)
			case <-r.done:
				return
			}
		}
	}()
	return r
}

func (r *responses) stop() { close(r.done) }

func (r *responses) render(body []byte, now time.Time) {
	head := func(conn string) []byte {
		return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n",
			now.UTC().Format(http.TimeFormat), len(body), conn)
	}
	ka, cl := head(""), head("Connection: close\r\n")
	r.cur.Store(&responseSet{
		keepAlive: append(ka, body...), keepAliveHead: len(ka),
		closing: append(cl, body...), closingHead: len(cl),
	})
}

// serveHTTP1 answers every request on every connection of lis with the
// fixed response. It returns when lis is closed.
func serveHTTP1(lis net.Listener, resp *responses, count *atomic.Uint64) {
	for {
		c, err := lis.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go handleHTTP1(c, resp, count)
	}
}

// Connection-level errors that get an answer before the connection closes.
var (
	errBadRequest  = errors.New("malformed request")
	errUnsupported = errors.New("chunked request bodies are not supported")
)

const (
	answerBadRequest  = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	answerUnsupported = "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)

func handleHTTP1(c net.Conn, resp *responses, count *atomic.Uint64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	bw := bufio.NewWriterSize(c, 8192)
	for {
		req, err := readRequest(br)
		switch {
		case errors.Is(err, errBadRequest):
			_, _ = c.Write([]byte(answerBadRequest))
			return
		case errors.Is(err, errUnsupported):
			_, _ = c.Write([]byte(answerUnsupported))
			return
		case err != nil:
			return
		}
		count.Add(1)
		set := resp.cur.Load()
		out := set.keepAlive
		if req.close {
			out = set.closing
		}
		if req.head {
			if req.close {
				out = out[:set.closingHead]
			} else {
				out = out[:set.keepAliveHead]
			}
		}
		_, _ = bw.Write(out)
		// Pipelined requests already buffered are answered in one write.
		if req.close || br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
		if req.close {
			return
		}
	}
}

type request struct {
	close bool // answer with Connection: close and close
	head  bool // HEAD: headers only
}

// readRequest reads one request's head and discards its body.
func readRequest(br *bufio.Reader) (request, error) {
	var req request
	line, err := readLine(br)
	for err == nil && len(line) == 0 { // RFC 9112, 2.2: ignore leading empty lines
		line, err = readLine(br)
	}
	if err != nil {
		return req, err
	}
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 || bytes.IndexByte(line, ' ') == sp {
		return req, errBadRequest
	}
	switch string(line[sp+1:]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.close = true
	default:
		return req, errBadRequest
	}
	http10 := req.close
	req.head = bytes.HasPrefix(line, []byte("HEAD "))
	var contentLength int64
	for {
		line, err = readLine(br)
		if err != nil {
			return req, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return req, errBadRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					req.close = true
				} else if http10 && bytes.EqualFold(tok, []byte("keep-alive")) {
					req.close = false
				}
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return req, errBadRequest
			}
			contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return req, errUnsupported
		}
	}
	if contentLength > 0 {
		if _, err := br.Discard(int(contentLength)); err != nil {
			return req, err
		}
	}
	return req, nil
}

// readLine returns one line without its CRLF (or LF). The slice is only
// valid until the next read. A line longer than the buffer is malformed.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errBadRequest
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
