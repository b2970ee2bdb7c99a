package proxy

import (
	"net/http"
	"net/url"
)

// The goroutine also keeps the header map and the field array of its last
// response, emptied, for its next one (h2Spare).

// A stream's handler runs in a goroutine of its own, as net/http's do. A
// goroutine whose handler returned waits on its connection for the next
// stream instead of exiting: a new goroutine starts on a small stack, and
// the proxy's handler (routing, the upstream exchange, TLS writes) needs
// more, so every new one grew and copied its stack on every request (7% of
// the process's CPU in BenchmarkForwardH2TLSConcurrent). A reused one keeps
// the stack it grew.

// h2MaxIdleWorkers bounds the idle handler goroutines a connection keeps
// (their stacks stay allocated until the connection ends or the GC shrinks
// them); more concurrent streams than this start goroutines of their own.
const h2MaxIdleWorkers = 32

// h2Job is a stream for a handler goroutine: one to start, one waiting for
// a running handler to end (streams reset by the client no longer count
// against the limit, their handlers still do), or one handed to an idle
// goroutine.
type h2Job struct {
	st      *h2Stream
	rw      *h2ResponseWriter
	head    h2ReqHead
	handler http.Handler
}

// h2ReqHead is what newRequest reads of a request's HEADERS: the parts of
// its http.Request that differ from one request to the next.
type h2ReqHead struct {
	method, host, requestURI string
	url                      url.URL  // the request's URL, unless parsedURL
	parsedURL                *url.URL // a path net/url had to parse (splitSimplePath)
	header, trailer          http.Header
	contentLength            int64
	tls                      bool       // :scheme https
	spare                    h2ReqSpare // what header was built on, kept after the handler
}

// h2Worker is a handler goroutine's own: the http.Request it serves its
// streams with, and that request's context (h2Ctx), kept from one stream
// to the next until a stream closes while its handler runs (the context
// is then cancelled for good, and a new one is made). One request per
// goroutine rather than per stream: a request is the largest allocation
// of an HTTP/2 request after the stream, and every byte allocated brings
// the next collection nearer (under load, collections are what the
// slowest responses waited for). As the HTTP/1.1 server does with its one
// request per connection, the request is reused once its handler has
// returned: a handler must not use it any more, nor a transport it gave
// it to once the response body is closed (RoundTrip's contract).
type h2Worker struct {
	ctx   *h2Ctx
	blank http.Request // ctx, nothing else: each request starts from it
	req   http.Request
	url   url.URL
	spare h2Spare // of the last response (h2srvresponse.go)
}

// request binds the goroutine's context to st, a new one if the last was
// cancelled, and returns the request of head, its body read from st.
func (wk *h2Worker) request(c *h2Conn, st *h2Stream, head *h2ReqHead) *http.Request {
	if wk.ctx == nil || wk.ctx.cancelled() {
		wk.ctx = &h2Ctx{c: c}
		wk.blank = *new(http.Request).WithContext(wk.ctx)
	}
	st.bind(wk.ctx)
	wk.req = wk.blank
	r := &wk.req
	r.Method = head.method
	if r.URL = head.parsedURL; r.URL == nil {
		wk.url = head.url
		r.URL = &wk.url
	}
	r.Proto, r.ProtoMajor = "HTTP/2.0", 2
	r.Header = head.header
	r.Host = head.host
	r.RemoteAddr = c.remoteAddr
	r.RequestURI = head.requestURI
	r.Trailer = head.trailer
	r.ContentLength = head.contentLength
	r.Body = http.NoBody
	if st.body != nil {
		r.Body = st.body
	}
	if head.tls {
		r.TLS = c.tlsState
	}
	return r
}

// h2ReqSpare is a request's header map and the array of its values,
// emptied once its handler returned, for a later request of the
// connection: a map and its first group are two of the few allocations
// an HTTP/2 request makes, and every byte allocated brings the next
// collection nearer (under load, collections are what the slowest
// responses waited for). The handler has returned, and a transport it
// gave the request to is done with it once the response body is closed
// (RoundTrip's contract), so nothing reads them any more: the HTTP/1.1
// server reuses its one map per connection on the same terms.
type h2ReqSpare struct {
	header http.Header
	values []string
}

// takeReqSpareLocked returns an empty header map and a values array of n
// strings, kept ones when there are; c.mu is held.
func (c *h2Conn) takeReqSpareLocked(n int) h2ReqSpare {
	if n <= h2KeepFields {
		if k := len(c.reqSpares); k > 0 {
			sp := c.reqSpares[k-1]
			c.reqSpares[k-1] = h2ReqSpare{}
			c.reqSpares = c.reqSpares[:k-1]
			sp.values = sp.values[:n]
			return sp
		}
		return h2ReqSpare{header: make(http.Header, n), values: make([]string, n, h2KeepFields)}
	}
	return h2ReqSpare{header: make(http.Header, n), values: make([]string, n)}
}

// keepReqSpareLocked empties sp and keeps it for a later request, unless
// it grew large or enough are kept; c.mu is held.
func (c *h2Conn) keepReqSpareLocked(sp h2ReqSpare) {
	if sp.header == nil || len(sp.header) > h2KeepFields || cap(sp.values) > h2KeepFields || len(c.reqSpares) >= h2MaxIdleWorkers {
		return
	}
	clear(sp.header)
	clear(sp.values[:cap(sp.values)])
	c.reqSpares = append(c.reqSpares, sp)
}

// startHandlerLocked runs job's handler, in an idle goroutine of the
// connection if there is one. c.mu is held; the handler slot is taken.
func (c *h2Conn) startHandlerLocked(job h2Job) {
	if n := len(c.workers); n > 0 {
		w := c.workers[n-1] // the last to go idle: its stack is the warmest
		c.workers[n-1] = nil
		c.workers = c.workers[:n-1]
		w <- job // buffered, and only an idle goroutine's: never blocks
		return
	}
	go c.runHandler(job, nil)
}

// runHandler is a handler goroutine: it serves job, then the streams that
// waited for a slot, then waits idle for the next stream until the
// connection ends. next is its channel once it has been idle.
func (c *h2Conn) runHandler(job h2Job, next chan h2Job) {
	var wk h2Worker
	for {
		job.rw.lend(&wk.spare)
		c.serveStream(job.st, job.rw, wk.request(c, job.st, &job.head), job.handler)
		job.rw.giveBack(&wk.spare)
		var ok bool
		job, ok = c.handlerDone(job.st, job.head.spare)
		if ok {
			continue
		}
		if next == nil {
			next = make(chan h2Job, 1)
		}
		if !c.parkWorker(next) {
			return
		}
		if job, ok = <-next; !ok {
			return // the connection ended
		}
	}
}

// handlerDone frees a handler slot, or hands it to a waiting stream (one
// that is still open); it closes a connection going away once nothing is
// left. st is the finished stream, which the goroutine no longer uses; sp
// is its request's, kept for a later one.
func (c *h2Conn) handlerDone(st *h2Stream, sp h2ReqSpare) (h2Job, bool) {
	c.mu.Lock()
	c.keepReqSpareLocked(sp)
	st.reuse |= h2HandlerGone
	c.keepStreamLocked(st)
	for len(c.waiting) > 0 {
		w := c.waiting[0]
		c.waiting[0] = h2Job{}
		c.waiting = c.waiting[1:]
		if !w.st.closed {
			c.mu.Unlock()
			return w, true
		}
	}
	c.waiting = nil
	c.handlers--
	idle := len(c.streams) == 0 && c.handlers == 0
	goingAway := c.goingAway
	if idle && !goingAway {
		c.startIdleTimerLocked()
	}
	c.mu.Unlock()
	if idle && goingAway {
		c.out.closeWhenFlushed()
	}
	return h2Job{}, false
}

// parkWorker puts a goroutine whose handler slot is free on the idle list;
// false when it should exit instead (the connection ends or goes away, or
// enough are idle).
func (c *h2Conn) parkWorker(next chan h2Job) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.goingAway || len(c.workers) >= h2MaxIdleWorkers {
		return false
	}
	c.workers = append(c.workers, next)
	return true
}

// endWorkersLocked makes the idle goroutines exit; c.mu is held and
// c.closed set, so none parks after it.
func (c *h2Conn) endWorkersLocked() {
	for i, w := range c.workers {
		close(w)
		c.workers[i] = nil
	}
	c.workers = nil
}
