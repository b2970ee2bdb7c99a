package proxy

// A stream is the largest allocation an HTTP/2 request makes (256 bytes of
// the 300 or so a proxied request left under load), and every byte
// allocated brings the next collection nearer: with one core, a collection
// takes it for about 2.5 ms, which the responses in flight then wait for.
// So a connection keeps the streams that ended as most do and gives them
// to its next ones.
//
// A stream is kept once both of its users are done with it, whichever is
// last: its handler's goroutine (handlerDone) and the frame reader, which
// takes it off the list of streams whose last frames were written
// (releaseFinished). Nothing else reaches a stream that ended as most do:
// it left the protocol's map when its handler retired it, it had no
// request body (h2Body, its timer and the readers of its pipe), no timer
// armed (their functions reset the stream, and one may run after Stop),
// and its request context and the upstream exchange's abort were let go
// before its handler returned. A stream reset, one whose handler
// panicked, and one on a connection that failed are left to the collector.
//
// It is cleared by the reader when it is taken for a new stream, not when
// it is kept: the reader may still be in a frame that found the stream
// before it left the map, and the reader's own order puts that frame
// before the HEADERS that reuse it.

// h2Reuse is what reuse needs to know of a stream. h2Retired, h2HandlerGone
// and h2ReaderGone are set under c.mu, after the handler's last frames
// were encoded (h2Out.finished). h2Timed is set by the handler's goroutine
// before that, while it still writes; the reader reaches the stream
// through the written list only after it (under out.mu).
type h2Reuse uint8

const (
	h2Retired     h2Reuse = 1 << iota // closed by its handler's normal end, not a reset
	h2HandlerGone                     // its handler's goroutine no longer uses it
	h2ReaderGone                      // the reader took it off the written list
	h2Timed                           // a timer that resets the stream was armed
	h2Reusable    = h2Retired | h2HandlerGone | h2ReaderGone
)

// newStreamLocked returns a cleared stream, a kept one when there is one;
// c.mu is held, by the frame reader.
func (c *h2Conn) newStreamLocked() *h2Stream {
	if n := len(c.spareSts); n > 0 {
		st := c.spareSts[n-1]
		c.spareSts[n-1] = nil
		c.spareSts = c.spareSts[:n-1]
		*st = h2Stream{}
		return st
	}
	return new(h2Stream)
}

// keepStreamLocked keeps st for a new stream of the connection once both
// its handler and the reader are done with it and it ended as most do;
// c.mu is held.
func (c *h2Conn) keepStreamLocked(st *h2Stream) {
	if st.reuse != h2Reusable || st.body != nil || st.trailer != nil ||
		c.closed || len(c.spareSts) >= h2MaxIdleWorkers {
		return
	}
	c.spareSts = append(c.spareSts, st)
}
