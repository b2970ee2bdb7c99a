package proxy

import (
	"context"
	"time"
)

// An HTTP/2 stream is its request's context: the values of the
// connection's context, cancelled when the stream closes (reset by either
// side, the response done, the connection gone). Being its own type saves
// per request what a context.WithCancel of the connection's context costs:
// two allocations, and an entry added to and removed from the parent's
// children map under its lock (most requests never look at their context's
// channel). It also lets the upstream exchange register its abort with the
// stream (onGone) instead of with context.AfterFunc. A context derived from
// the stream (a route timeout) is cancelled with it through AfterFunc, the
// hook the context package looks for, so it needs no goroutine either.
//
// The connection's context is not watched per stream: net/http cancels it
// only once serveConn returns, after every stream was closed, and serveConn
// closes the connection (and so its streams) if it ends sooner (watchBase).

func (st *h2Stream) Deadline() (time.Time, bool) { return st.c.baseCtx.Deadline() }

// Done's channel is made on the first call.
func (st *h2Stream) Done() <-chan struct{} {
	st.goneMu.Lock()
	defer st.goneMu.Unlock()
	if st.done == nil {
		st.done = make(chan struct{})
		if st.gone {
			close(st.done)
		}
	}
	return st.done
}

func (st *h2Stream) Err() error {
	st.goneMu.Lock()
	defer st.goneMu.Unlock()
	if st.gone {
		return context.Canceled
	}
	return nil
}

// Value is the connection context's. context.Cause of a closed stream
// still says Canceled: the connection's cancelCtx, found through Value,
// has no cause, and Cause then returns the stream's Err.
func (st *h2Stream) Value(key any) any { return st.c.baseCtx.Value(key) }

// AfterFunc runs f once the stream's context is cancelled, at once if it
// is already; stop unregisters it, false if it ran (or runs) already. The
// context package uses it to cancel contexts derived from the stream.
func (st *h2Stream) AfterFunc(f func()) (stop func() bool) {
	st.goneMu.Lock()
	if st.gone {
		st.goneMu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &h2AfterFunc{f: f}
	st.afters = append(st.afters, a)
	st.goneMu.Unlock()
	return func() bool {
		st.goneMu.Lock()
		defer st.goneMu.Unlock()
		for i, b := range st.afters {
			if b == a {
				st.afters = append(st.afters[:i], st.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

type h2AfterFunc struct{ f func() }

// cancelAndAbort cancels the stream's context and runs the upstream
// exchange's abort, if one is registered. closeStream calls it once.
func (st *h2Stream) cancelAndAbort() {
	st.goneMu.Lock()
	st.gone = true // under goneMu: onGone sees either the closing or its abort taken
	if st.done != nil {
		close(st.done)
	}
	afters := st.afters
	st.afters = nil
	abort := st.abort
	st.abort = nil
	st.goneMu.Unlock()
	for _, a := range afters {
		go a.f() // as context.AfterFunc: its own goroutine
	}
	if abort != nil {
		abort()
	}
}

// onGone makes abort run when the stream's context is cancelled, at once if
// it is already, as context.AfterFunc would.
func (st *h2Stream) onGone(abort func()) {
	st.goneMu.Lock()
	if !st.gone {
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

// watchBase closes the connection if its context ends while it is served
// (a server whose BaseContext is cancelled): its streams' contexts are
// then cancelled as they close. One registration per connection.
func (c *h2Conn) watchBase() (stop func() bool) {
	if c.baseCtx.Done() == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(c.baseCtx, func() { c.conn.Close() })
}
