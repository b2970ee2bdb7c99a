package proxy

import "sync"

// The handlers of the streams a client sent together start in the order
// their streams arrived, one after the other.
//
// Why: Go's scheduler runs the goroutine readied last before the ones
// already waiting for the core (each P's runnext slot: a goroutine woken
// by a channel send, or started by go, runs next). The frame reader readies
// one handler per HEADERS frame, so of the eight streams an HTTP/2 client
// sent in one write the eighth ran first, at once, and the first seven ran
// after everything else that was runnable: the connections and upstream
// answers of the same poll. Their upstream requests left apart, the
// backend's answers came back over two or three polls, and the responses
// of one batch went out in two or three writes, where an event loop (HAProxy,
// nginx) sends one batch's requests one after the other and its answers in
// one write (bench/peers/README.md, "HTTP/2's batches").
//
// What: before it may block in a read, a reader that started handlers
// readies one more goroutine, which does nothing. That one takes the slot
// and runs next; the last handler goes to the back of the queue, behind
// the others of its batch, in order.
//
// Cost: one wake-up and one switch per batch of streams, not per stream.
// With several Ps, the goroutine may be busy on another: the send is then
// skipped, and the batch runs as it would have.

var lineUp struct {
	once sync.Once
	ch   chan struct{}
}

// lineUpHandlers puts the handlers the reader started back in the order it
// started them (above).
func lineUpHandlers() {
	lineUp.once.Do(func() {
		lineUp.ch = make(chan struct{})
		go func() {
			for range lineUp.ch {
			}
		}()
	})
	select {
	case lineUp.ch <- struct{}{}:
	default:
	}
}
