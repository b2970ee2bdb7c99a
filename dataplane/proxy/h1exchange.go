package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// The HTTP/1.1 upstream exchange, done in the handler's goroutine: take a
// pooled connection (h1pool.go), write the request head and body, read the
// response head (h1head.go) into the client's header map and copy the
// body. It does what httputil.ReverseProxy + http.Transport did for these
// requests without their per-request goroutine hand-offs, request clone
// and header copies: that machinery was most of the proxy's CPU per
// request (bench/go/PROFILE.md).
//
// What stays on ReverseProxy (forward.go), being rare or long-lived:
// HTTP/2 clusters, routes with retries, a per-try timeout or mirrors,
// upgrades (WebSocket), CONNECT, "Expect: 100-continue", requests with
// trailers, request bodies of unknown length (chunked) or over
// maxH1Body, and request targets a rewrite left with bytes that cannot go
// on a request line.

// maxH1Body is the largest request body (with a Content-Length) sent by
// this exchange. The body is written before the response is read; an
// upstream that answers early without reading a large body would see the
// write stall, which Transport's concurrent writer avoids.
const maxH1Body = 64 << 10

// h1Eligible reports whether the request takes the exchange; target is
// the upstream request target's path.
func h1Eligible(u *upstream, f *config.Forward, r *http.Request, target string) bool {
	if u.pool == nil || f.Retry != nil || f.PerTryTimeout > 0 || len(f.Mirrors) > 0 {
		return false
	}
	if r.Method == http.MethodConnect || len(r.Trailer) > 0 || r.ContentLength < 0 || r.ContentLength > maxH1Body {
		return false
	}
	if r.Header["Upgrade"] != nil || r.Header["Expect"] != nil {
		return false
	}
	return validTargetPart(target) && validTargetPart(r.URL.RawQuery) && strings.HasPrefix(target, "/")
}

// validTargetPart: no byte that would end or corrupt a request line.
func validTargetPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// forwardH1 forwards r to addr of u with the exchange.
func (p *Proxy) forwardH1(hcm *config.HTTPManager, rt *config.Route, wc *config.WeightedCluster, u *upstream, addr, target, scheme string, w http.ResponseWriter, r *http.Request) {
	f := rt.Forward
	now := monoNow() // one clock read for the deadline and the pool (clock.go)
	var deadline time.Time
	if f.Timeout > 0 {
		// The route timeout covers the whole exchange: a deadline on the
		// upstream connection (the netpoller's timer), not a context.
		deadline = now.Add(f.Timeout)
	}
	ctx := r.Context()
	// A bodyless idempotent request that finds a pooled connection stale
	// (the backend closed it while idle) is tried again on the next one,
	// as Transport does. A pooled connection is probed before use unless
	// the poller heard nothing from it and the request is replayable
	// (h1alive.go): bytes an upstream sent unasked while it was idle would
	// otherwise be read as this request's response.
	replayable := r.ContentLength == 0 && (idempotent(r.Method) || r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil)
	for {
		pc, err := u.pool.get(ctx, addr, now, deadline)
		if err != nil {
			p.h1Failed(rt, u, addr, w, r, err, deadline)
			return
		}
		// The client going away cuts the exchange, as the request context
		// cut Transport's.
		watch := watchClient(ctx, pc.abort)
		// Armed up to deadlineSlack late, and kept while it is no
		// earlier than this exchange's (deadline.go).
		if at, set := pc.deadline.update(deadline, deadlineSlack(f.Timeout)); set {
			pc.conn.SetDeadline(at)
		}
		if r.ContentLength == 0 {
			// Let the other runnable handlers (requests read in the same
			// poll) reach their upstream writes first, so that the writes
			// leave together and a backend asleep in its poll is woken once
			// for the batch, as for the responses (h1writer.go commit).
			runtime.Gosched()
			// Probe, write and wait for the answer in one (h1alive.go).
			err = pc.sendAwait(h1Request{hcm, rt, wc, target, scheme, r}, replayable)
		} else if pc.reused && !pc.alive() {
			err = errStale
		} else {
			// The route timeout covers reading the request body too: a
			// client that stops sending it must not hold the handler and
			// an upstream connection (found in review). Cleared once the
			// body is sent, so that the servers' client-gone read does not
			// take the deadline for the client leaving.
			var rc *http.ResponseController
			if !deadline.IsZero() {
				rc = http.NewResponseController(w)
				_ = rc.SetReadDeadline(deadline) // not supported: unbounded, as before
			}
			err = writeH1Request(pc, hcm, rt, wc, target, scheme, r)
			if rc != nil {
				_ = rc.SetReadDeadline(time.Time{})
			}
		}
		if err == errStale {
			// Closed by the backend while idle, nothing sent: the next one.
			watch.done()
			pc.conn.Close()
			continue
		}
		if err == nil {
			_, err = pc.br.Peek(1) // the response's first byte
		} else if r.ContentLength > 0 && upstreamAnsweredEarly(pc, err, deadline) {
			// The upstream answered before it read the whole body and
			// closed (a 413 or 401, say): the client gets that answer,
			// as Transport gave it, and the connection ends with it.
			pc.closeAfter = true
			err = nil
		}
		if err != nil {
			watch.done()
			pc.conn.Close()
			if pc.reused && replayable && ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				// Stale: nothing came back on a reused connection. Each
				// such try closes one pooled connection; a fresh one
				// ends the loop either way.
				continue
			}
			p.h1Failed(rt, u, addr, w, r, err, deadline)
			return
		}
		p.h1Respond(pc, watch, rt, wc, u, addr, deadline, w, r)
		return
	}
}

// earlyAnswerWait bounds the look for an answer on a connection whose
// request write failed: an answer the upstream sent before it closed is
// already received by then, so this only covers the last packets.
const earlyAnswerWait = 50 * time.Millisecond

// upstreamAnsweredEarly reports whether a request body write that failed
// because the upstream closed the connection (EPIPE, ECONNRESET) left a
// response to read: an upstream may answer and close without reading the
// whole body. Other failures (the client's body, the route timeout) are
// not answered here.
func upstreamAnsweredEarly(pc *h1Conn, err error, deadline time.Time) bool {
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		return false
	}
	wait := time.Now().Add(earlyAnswerWait)
	if !deadline.IsZero() && deadline.Before(wait) {
		wait = deadline
	}
	pc.conn.SetReadDeadline(wait)
	_, perr := pc.br.Peek(1)
	pc.conn.SetReadDeadline(deadline) // zero: none, as before
	pc.deadline.forget()
	return perr == nil
}

// clientWatch ends an upstream exchange when its client goes away: on the
// downstream loop's connections with the hook the connection keeps
// (h1gone.go), on HTTP/2 streams with the stream's (h2srvctx.go),
// elsewhere (net/http's servers) with context.AfterFunc on the request's
// context (five allocations per request).
type clientWatch struct {
	c    *h1Client
	st   *h2Stream
	stop func() bool
}

func watchClient(ctx context.Context, abort func()) clientWatch {
	// Only the HTTP/1.1 connection's context or an HTTP/2 request's own
	// (h2Ctx, which names the stream it serves): one derived from them
	// could be cancelled without the connection knowing.
	if x, ok := ctx.(*h2Ctx); ok {
		if st := x.stream(); st != nil {
			st.onGone(abort)
			return clientWatch{st: st}
		}
	}
	if c, ok := ctx.Value(h1ClientKey{}).(*h1Client); ok && c.ctx == ctx {
		c.onGone(abort)
		return clientWatch{c: c}
	}
	return clientWatch{stop: context.AfterFunc(ctx, abort)}
}

// done ends the watch; false: abort ran, or runs, already.
func (w clientWatch) done() bool {
	switch {
	case w.c != nil:
		return w.c.stopOnGone()
	case w.st != nil:
		return w.st.stopOnGone()
	}
	return w.stop()
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// max1xx bounds the interim responses before the final one (Transport's).
const max1xx = 5

// h1Respond reads the response head and copies the response to w. The
// request is written; the connection is pc's until it is pooled or closed.
func (p *Proxy) h1Respond(pc *h1Conn, watch clientWatch, rt *config.Route, wc *config.WeightedCluster, u *upstream, addr string, deadline time.Time, w http.ResponseWriter, r *http.Request) {
	dst := w.Header()
	// Parse straight into the client's header map when it is empty (the
	// usual case); otherwise into a map of its own, merged after the
	// response header changes, as ReverseProxy did.
	h := dst
	direct := len(dst) == 0
	if !direct {
		h = make(http.Header)
	}
	var head respHead
	var err error
	for n := 0; ; n++ {
		head, err = pc.readResponseHead(h)
		if err == nil && head.status == http.StatusSwitchingProtocols {
			err = errBadResponse // no upgrade was asked for
		}
		if err == nil && head.status < 200 && n >= max1xx {
			err = errBadResponse
		}
		if err != nil {
			watch.done()
			pc.conn.Close()
			clear(h)
			p.h1Failed(rt, u, addr, w, r, err, deadline)
			return
		}
		if head.status >= 200 {
			break
		}
		// Interim responses (103 Early Hints) go to the client as they
		// come, as ReverseProxy passed them on.
		if !direct {
			addFields(dst, h)
			clear(h)
		}
		w.WriteHeader(head.status)
		clear(dst)
	}
	if !direct {
		dropUpstreamCORS(w, h)
	}
	wc.ResponseHeaders.Apply(h)
	rt.ResponseHeaders.Apply(h)
	if !direct {
		addFields(dst, h)
	}
	for _, v := range head.trailer {
		dst["Trailer"] = append(dst["Trailer"], v)
	}
	// Streams of unknown length and event streams go out as they come;
	// the rest is flushed when the handler returns.
	flush := head.contentLength < 0 || isEventStream(dst["Content-Type"])
	w.WriteHeader(head.status)
	if len(head.trailer) > 0 {
		// Announced trailers: send the head now so that net/http cannot
		// give a short body a Content-Length (and drop the trailers), as
		// ReverseProxy does.
		http.NewResponseController(w).Flush()
	}

	reusable := !head.close && !pc.closeAfter
	var upErr, downErr error
	switch {
	case r.Method == http.MethodHead || head.status == http.StatusNoContent || head.status == http.StatusNotModified:
		// No body, whatever the fields say.
	case head.chunked:
		upErr, downErr = p.copyBody(w, httputil.NewChunkedReader(pc.br), flush)
		if upErr == nil && downErr == nil {
			_, upErr = pc.readFields(dst, http.TrailerPrefix)
		}
	case head.contentLength >= 0:
		if n := head.contentLength; n <= int64(pc.br.Buffered()) {
			// All of it already read with the head: one write, no copy.
			b, _ := pc.br.Peek(int(n))
			_, downErr = w.Write(b)
			pc.br.Discard(int(n))
		} else {
			lr := &io.LimitedReader{R: pc.br, N: n}
			upErr, downErr = p.copyBody(w, lr, flush)
			if upErr == nil && lr.N > 0 {
				upErr = io.ErrUnexpectedEOF
			}
		}
	default:
		// Delimited by the connection's end.
		reusable = false
		upErr, downErr = p.copyBody(w, pc.br, flush)
	}
	if upErr != nil || downErr != nil {
		watch.done()
		pc.conn.Close()
		if upErr != nil {
			p.log.Debug("upstream response body failed", "cluster", u.cluster.Name, "endpoint", addr, "error", upErr)
		}
		// The response has started: all that is left is to cut the
		// client's connection (or stream), as ReverseProxy did, so that
		// the client sees a truncated response, not a complete one.
		panic(http.ErrAbortHandler)
	}
	if !watch.done() || !reusable {
		// The client went away at the last moment, or the connection ends here.
		pc.conn.Close()
		return
	}
	// A route timeout's deadline stays on the pooled connection: the next
	// request sets its own or clears it (forwardH1) before using it, and
	// nothing else reads an idle connection. One deadline change per
	// request instead of two.
	u.pool.put(pc)
}

// addFields adds src's fields to dst.
func addFields(dst, src http.Header) {
	for k, vv := range src {
		dst[k] = append(dst[k], vv...)
	}
}

// isEventStream: a text/event-stream content type, which ReverseProxy
// flushes write by write.
func isEventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	v := strings.TrimSpace(ct[0])
	const es = "text/event-stream"
	return len(v) >= len(es) && strings.EqualFold(v[:len(es)], es) && (len(v) == len(es) || v[len(es)] == ';' || v[len(es)] == ' ')
}

// copyBody copies src to w with a pooled buffer, flushing after each write
// when asked. upErr is a failed read of src (an io.EOF is the end),
// downErr a failed write to the client.
func (p *Proxy) copyBody(w http.ResponseWriter, src io.Reader, flush bool) (upErr, downErr error) {
	buf := p.bufPool.Get()
	defer p.bufPool.Put(buf)
	fl, _ := w.(http.Flusher)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if flush && fl != nil {
				fl.Flush()
			}
		}
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// h1Failed answers a request whose exchange failed before the response
// started, as forward's ReverseProxy error handler does.
func (p *Proxy) h1Failed(rt *config.Route, u *upstream, addr string, w http.ResponseWriter, r *http.Request, err error, deadline time.Time) {
	status, msg := h1ErrorStatus(r, err, deadline)
	p.answerUpstreamFailure(rt, u, addr, w, r, err, status, msg)
}

// h1ErrorStatus is upstreamErrorStatus for the exchange, which has a
// deadline rather than a timeout context: the route timeout is whatever
// failed once the deadline passed.
func h1ErrorStatus(r *http.Request, err error, deadline time.Time) (int, string) {
	if r.Context().Err() != nil {
		return 0, ""
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return http.StatusGatewayTimeout, "upstream request timeout"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return http.StatusServiceUnavailable, "upstream connect error"
	}
	return http.StatusBadGateway, "upstream error"
}
