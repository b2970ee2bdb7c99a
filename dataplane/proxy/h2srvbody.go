package proxy

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// h2Body is a request body: the frame reader appends DATA payloads (at
// most the stream's window, so the buffer is bounded by it), the handler
// reads them, and what it read goes back to the client as window
// (WINDOW_UPDATE), so a client never sends more than the handler took
// plus one window.
type h2Body struct {
	st         *h2Stream
	reqTrailer http.Header // the request's declared trailers (handler side)

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	r       int         // buf[r:] is unread
	err     error       // once buf is read: io.EOF or why the body broke
	trailer http.Header // received trailers, copied at io.EOF
	closed  bool        // the handler closed it: data is discarded
	timer   *time.Timer // the read deadline (ResponseController)

	// Handler side only.
	needsContinue bool
	sawEOF        bool
}

// write appends a DATA payload; false if the handler closed the body.
func (b *h2Body) write(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.err != nil {
		return false
	}
	if b.r == len(b.buf) {
		b.buf, b.r = b.buf[:0], 0
	} else if b.r > 0 && len(b.buf)+len(p) > cap(b.buf) {
		// Move the unread bytes to the front rather than grow: a handler
		// that never quite catches up would otherwise keep every byte it
		// read, and the buffer would grow with the body, not be bounded
		// by the stream's window.
		n := copy(b.buf, b.buf[b.r:])
		b.buf, b.r = b.buf[:n], 0
	}
	b.buf = append(b.buf, p...)
	b.cond.Signal()
	return true
}

// closeWith ends the body: err nil is the end of it (with trailers).
func (b *h2Body) closeWith(err error, trailer http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	if err == nil {
		err, b.trailer = io.EOF, trailer
	}
	b.err = err
	b.cond.Broadcast()
}

// abort breaks a body that has not ended (the stream was reset or the
// connection closed) and discards what it held; it returns the number of
// bytes discarded (their connection window is owed to the client).
func (b *h2Body) abort(err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0 // complete: the handler may still read it
	}
	b.err = err
	n := len(b.buf) - b.r
	b.buf, b.r = nil, 0
	b.cond.Broadcast()
	return n
}

func (b *h2Body) Read(p []byte) (int, error) {
	if b.needsContinue {
		b.needsContinue = false
		b.st.c.write100Continue(b.st)
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	b.mu.Lock()
	for len(b.buf) == b.r && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if len(b.buf) > b.r {
		n := copy(p, b.buf[b.r:])
		b.r += n
		b.mu.Unlock()
		b.st.c.returnInflow(b.st, int32(n), false)
		return n, nil
	}
	err, trailer := b.err, b.trailer
	b.mu.Unlock()
	if err == io.EOF {
		b.sawEOF = true
		for k, vv := range trailer {
			if _, ok := b.reqTrailer[k]; ok {
				b.reqTrailer[k] = vv
			}
		}
	}
	return 0, err
}

// Close discards what is unread; its connection window goes back to the
// client.
func (b *h2Body) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	n := len(b.buf) - b.r
	b.buf, b.r = nil, 0
	b.cond.Broadcast()
	b.mu.Unlock()
	if n > 0 {
		b.st.c.returnInflow(nil, int32(n), false)
	}
	return nil
}

// setReadDeadline breaks the body with os.ErrDeadlineExceeded at t (what
// x/net/http2 does for http.ResponseController.SetReadDeadline); the zero
// time removes the deadline.
func (b *h2Body) setReadDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if t.IsZero() {
		return
	}
	expire := func() { b.closeWith(fmt.Errorf("%w", os.ErrDeadlineExceeded), nil) }
	if d := time.Until(t); d > 0 {
		b.timer = time.AfterFunc(d, expire)
		return
	}
	go expire() // b.mu is held
}

// stopTimer removes the read deadline of a finished stream.
func (b *h2Body) stopTimer() {
	b.mu.Lock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
}
