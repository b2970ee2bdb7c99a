package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The context of an HTTP/2 request is its handler goroutine's h2Ctx: the
// values of the connection's context, cancelled when the stream it serves
// closes before its handler returned (reset by either side, the connection
// gone). A goroutine keeps one h2Ctx, and the http.Request made with it
// (h2Worker), for stream after stream until one is cancelled: then it
// makes another, as a cancelled context stays cancelled. The HTTP/1.1
// server does the same with one context per connection. So a context
// retained past its handler (which nothing may do, but transports'
// goroutines end a little after the response body is closed) reads as
// live while the goroutine serves other streams, never as live again once
// cancelled.
//
// Being its own type saves per request what a context.WithCancel of the
// connection's context costs: two allocations, and an entry added to and
// removed from the parent's children map under its lock (most requests
// never look at their context's channel); reusing it saves the request's
// allocation too (WithContext is the only way to give a request its
// context, and it copies). The stream served also takes the upstream
// exchange's abort (onGone) instead of context.AfterFunc. A context
// derived from the request's (a route timeout) is cancelled with it
// through AfterFunc, the hook the context package looks for, so it needs
// no goroutine either.
//
// The connection's context is not watched per stream: net/http cancels it
// only once serveConn returns, after every stream was closed, and serveConn
// closes the connection (and so its streams) if it ends sooner (watchBase).
type h2Ctx struct {
	c  *h2Conn
	st atomic.Pointer[h2Stream] // the stream served, for the upstream exchange (watchClient)

	mu     sync.Mutex
	done   chan struct{}  // Done's, made on first use
	afters []*h2AfterFunc // AfterFunc's, until cancelled
	gone   bool           // cancelled
}

// stream is the stream the context's goroutine serves, nil between
// streams.
func (x *h2Ctx) stream() *h2Stream { return x.st.Load() }

func (x *h2Ctx) Deadline() (time.Time, bool) { return x.c.baseCtx.Deadline() }

// Done's channel is made on the first call.
func (x *h2Ctx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		if x.gone {
			close(x.done)
		}
	}
	return x.done
}

func (x *h2Ctx) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gone {
		return context.Canceled
	}
	return nil
}

// Value is the connection context's. context.Cause of a cancelled request
// still says Canceled: the connection's cancelCtx, found through Value,
// has no cause, and Cause then returns the context's Err.
func (x *h2Ctx) Value(key any) any { return x.c.baseCtx.Value(key) }

// AfterFunc runs f once the context is cancelled, at once if it is
// already; stop unregisters it, false if it ran (or runs) already. The
// context package uses it to cancel contexts derived from the request's.
func (x *h2Ctx) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	if x.gone {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &h2AfterFunc{f: f}
	x.afters = append(x.afters, a)
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		for i, b := range x.afters {
			if b == a {
				x.afters = append(x.afters[:i], x.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

type h2AfterFunc struct{ f func() }

// cancel cancels the context; once is enough.
func (x *h2Ctx) cancel() {
	x.mu.Lock()
	if x.gone {
		x.mu.Unlock()
		return
	}
	x.gone = true
	if x.done != nil {
		close(x.done)
	}
	afters := x.afters
	x.afters = nil
	x.mu.Unlock()
	for _, a := range afters {
		go a.f() // as context.AfterFunc: its own goroutine
	}
}

// cancelled reports whether cancel ran.
func (x *h2Ctx) cancelled() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.gone
}

// bind makes ctx the context of st's request until unbind: it is
// cancelled when st closes, at once if st is closed already (reset while
// it waited for a handler).
func (st *h2Stream) bind(ctx *h2Ctx) {
	ctx.st.Store(st)
	st.goneMu.Lock()
	gone := st.gone
	st.ctx = ctx
	st.goneMu.Unlock()
	if gone {
		ctx.cancel()
	}
}

// unbind ends bind once st's handler returned: the stream's end no longer
// concerns the context, which serves the goroutine's next stream.
func (st *h2Stream) unbind() {
	st.goneMu.Lock()
	ctx := st.ctx
	st.ctx = nil
	st.goneMu.Unlock()
	if ctx != nil {
		ctx.st.Store(nil)
	}
}

// cancelAndAbort cancels the context of the stream's request while its
// handler runs, and runs the upstream exchange's abort, if one is
// registered. closeStream calls it once.
func (st *h2Stream) cancelAndAbort() {
	st.goneMu.Lock()
	st.gone = true // under goneMu: onGone and bind see either the closing or their abort taken
	ctx := st.ctx
	abort := st.abort
	st.abort = nil
	st.goneMu.Unlock()
	if ctx != nil {
		ctx.cancel()
	}
	if abort != nil {
		abort()
	}
}

// onGone makes abort run when the stream closes, at once if it is closed
// already, as context.AfterFunc would.
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
