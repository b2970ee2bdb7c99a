package proxy

import "time"

// An HTTP/2 stream is its request's context: the context of the
// connection, cancelled when the stream closes (reset by either side, the
// response done, the connection gone). Being its own type lets the
// upstream exchange register its abort with the stream (watchClient)
// instead of with context.AfterFunc, which costs five allocations per
// request; contexts derived from it still find the cancelCtx below
// (through Value), so they need no goroutine either.

func (st *h2Stream) Deadline() (time.Time, bool) { return st.cctx.Deadline() }
func (st *h2Stream) Done() <-chan struct{}       { return st.cctx.Done() }
func (st *h2Stream) Err() error                  { return st.cctx.Err() }
func (st *h2Stream) Value(key any) any           { return st.cctx.Value(key) }

// cancelAndAbort cancels the stream's context and runs the upstream
// exchange's abort, if one is registered. closeStream calls it once.
func (st *h2Stream) cancelAndAbort() {
	st.goneMu.Lock()
	st.cancel() // under goneMu: onGone sees either the closing or its abort taken
	st.gone = true
	abort := st.abort
	st.abort = nil
	st.goneMu.Unlock()
	if abort != nil {
		abort()
	}
}

// onGone makes abort run when the stream's context is cancelled, at once if
// it is already, as context.AfterFunc would.
func (st *h2Stream) onGone(abort func()) {
	st.goneMu.Lock()
	// The connection's context ends only after every stream closed
	// (serveConn's close runs first); Err covers a cancellation from
	// above all the same.
	if !st.gone && st.cctx.Err() == nil {
		st.abort = abort
		st.goneMu.Unlock()
		return
	}
	st.goneMu.Unlock()
	abort()
}

// stopOnGone removes onGone's abort; false when it ran (or runs) already,
// as the stop function of context.AfterFunc.
func (st *h2Stream) stopOnGone() bool {
	st.goneMu.Lock()
	stopped := st.abort != nil
	st.abort = nil
	st.goneMu.Unlock()
	return stopped
}
