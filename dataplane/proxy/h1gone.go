package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Client-gone detection of the downstream HTTP/1.1 loop. net/http starts a
// background read of the connection for every request (a goroutine, a
// read attempt and two read deadline changes to stop it), whose end with
// the client's FIN or reset cancels the request. Most requests are
// answered long before a client could be seen leaving, so the loop starts
// that read only once the handler has run for clientGoneDelay, from a
// timer the connection keeps: a request answered sooner costs a timer
// reset and stop. A client that leaves while the upstream is slow still
// ends the exchange, at most clientGoneDelay later than net/http would.

// clientGoneDelay is how long a handler runs before the loop watches the
// connection for the client leaving: well above a proxied request's usual
// time (the peer harness's p99 is a few milliseconds), short next to
// what an upstream that is slow enough to matter spends.
const clientGoneDelay = 50 * time.Millisecond

// h1GoneWatch is the client-gone state of one connection; its fields are
// guarded by mu.
type h1GoneWatch struct {
	mu       sync.Mutex
	timer    *time.Timer // runs backgroundRead; made on first use
	enabled  bool        // the handler runs: the watch may be armed
	armed    bool        // the timer is set, or its read runs
	running  bool        // the background read claimed the connection
	stale    int         // fired callbacks that must do nothing (see stop)
	aborting atomic.Bool
	done     chan struct{}
	// abort ends the upstream exchange in progress (h1exchange.go): the
	// connection runs it when the request is cancelled, in place of a
	// context.AfterFunc per exchange (two allocations, a lock and a map
	// entry in the parent context per request).
	abort func()
}

// enableGoneWatch allows the watch for the handler about to run.
func (c *h1Client) enableGoneWatch() {
	c.watch.mu.Lock()
	c.watch.enabled = true
	c.watch.mu.Unlock()
}

// armGoneWatch starts the watch's delay once the request is read in full
// (at once when it has no body): the connection's next bytes are then the
// client's next request or its leaving.
func (c *h1Client) armGoneWatch() {
	g := &c.watch
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.armed || !g.enabled {
		return
	}
	g.armed = true
	if g.timer == nil {
		g.timer = time.AfterFunc(clientGoneDelay, c.backgroundRead)
	} else {
		g.timer.Reset(clientGoneDelay)
	}
}

// backgroundRead is the timer's callback: it reads until the client
// leaves (its FIN or reset) or a pipelined request arrives (which stays
// buffered for the loop), or stopGoneWatch aborts it.
func (c *h1Client) backgroundRead() {
	g := &c.watch
	g.mu.Lock()
	if g.stale > 0 {
		// This callback fired as stopGoneWatch stopped the timer too late:
		// the handler it was armed for is done.
		g.stale--
		g.mu.Unlock()
		return
	}
	if !g.armed {
		g.mu.Unlock()
		return
	}
	g.running = true
	// The loop leaves the head's read deadline on the connection for a
	// request without a body (h1serve.go next): it must not end the watch.
	// Cleared under mu, so that stopGoneWatch's abort comes after it.
	c.conn.SetReadDeadline(time.Time{})
	g.mu.Unlock()
	_, err := c.br.Peek(1)
	if err != nil && !(g.aborting.Load() && isTimeout(err)) {
		c.gone.Store(true)
		c.cancelRequest()
	}
	g.done <- struct{}{}
}

// stopGoneWatch ends the watch before the loop reads the connection
// itself again (or closes it): when it returns no background read runs,
// and none will start until the next request enables the watch.
func (c *h1Client) stopGoneWatch() {
	g := &c.watch
	g.mu.Lock()
	g.enabled = false
	armed, running := g.armed, g.running
	g.armed, g.running = false, false
	if armed && !running && !g.timer.Stop() {
		// The timer fired and its callback has not claimed the read yet:
		// it will find a stale mark and do nothing.
		g.stale++
	}
	g.mu.Unlock()
	if !running {
		return
	}
	g.aborting.Store(true)
	c.conn.SetReadDeadline(aLongTimeAgo)
	<-g.done
	g.aborting.Store(false)
	c.conn.SetReadDeadline(time.Time{})
	c.readDeadline.forget() // the background read changed it too
}

// cancelRequest cancels the connection's context (the request's) and ends
// the upstream exchange in progress, if any.
func (c *h1Client) cancelRequest() {
	g := &c.watch
	g.mu.Lock()
	c.cancel() // under mu: onGone sees either the cancellation or its abort taken
	abort := g.abort
	g.abort = nil
	g.mu.Unlock()
	if abort != nil {
		abort()
	}
}

// onGone makes abort run when the request is cancelled, at once if it is
// already, as context.AfterFunc would.
func (c *h1Client) onGone(abort func()) {
	g := &c.watch
	g.mu.Lock()
	if c.ctx.Err() == nil {
		g.abort = abort
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	abort()
}

// stopOnGone removes onGone's abort; false when it ran (or runs) already,
// as the stop function of context.AfterFunc.
func (c *h1Client) stopOnGone() bool {
	g := &c.watch
	g.mu.Lock()
	stopped := g.abort != nil
	g.abort = nil
	g.mu.Unlock()
	return stopped
}

// h1ClientKey is the context key under which a loop connection's context
// holds its *h1Client, for the upstream exchange's watch.
type h1ClientKey struct{}
