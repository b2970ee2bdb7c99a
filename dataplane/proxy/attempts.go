package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// This file is the upstream side of one forwarded request when its route
// has a retry policy, a per-try timeout or request mirrors: an
// http.RoundTripper that ReverseProxy calls once and that makes the
// attempts itself. Routes without these features use the cluster's
// transport directly.
//
// Replay rule: a request body is replayed (for a retry or a mirror) only
// when its Content-Length is known and at most maxReplayBody; it is then
// read before the first attempt. Chunked or larger bodies are streamed to
// a single attempt and never mirrored: reading them ahead could stall a
// streaming upload, and a partial replay would be a different request.

// maxReplayBody is the largest request body kept for retries and mirrors.
const maxReplayBody = 64 << 10

// maxMirrorsInFlight bounds the mirror requests in flight per mirror
// cluster; beyond it mirrors are dropped, never queued.
const maxMirrorsInFlight = 256

// errPerTryTimeout is the error of an attempt cut by per_try_timeout.
var errPerTryTimeout = errors.New("upstream per-try timeout")

// traffic counts what the retry budget and the mirror bound need, per
// upstream cluster.
type traffic struct {
	active  atomic.Int64 // requests being forwarded to the cluster
	retries atomic.Int64 // retry attempts waiting for response headers
	mirrors atomic.Int64 // mirror requests in flight to the cluster
}

// acquireRetry takes a slot of the cluster's retry budget: concurrent
// retries may be budget percent of the active requests, and at least the
// minimum concurrency.
func (t *traffic) acquireRetry(b config.RetryBudget) bool {
	allowed := max(int64(b.MinConcurrency), int64(b.Percent*float64(t.active.Load())/100))
	for {
		n := t.retries.Load()
		if n >= allowed {
			return false
		}
		if t.retries.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// attempter is the RoundTripper of one forwarded request.
type attempter struct {
	st   *state
	f    *config.Forward
	u    *upstream
	addr string // the first attempt's endpoint, already picked
}

// roundTripper returns the transport for a forwarded request: the
// cluster's own unless the route needs attempts or mirrors. Upgrades
// (WebSocket) are single long-lived streams: never retried or mirrored.
func (p *Proxy) roundTripper(st *state, f *config.Forward, u *upstream, addr string, r *http.Request) http.RoundTripper {
	if (f.Retry == nil && f.PerTryTimeout == 0 && len(f.Mirrors) == 0) || r.Header.Get("Upgrade") != "" {
		return u.transport
	}
	return &attempter{st: st, f: f, u: u, addr: addr}
}

func (x *attempter) RoundTrip(out *http.Request) (*http.Response, error) {
	body, replayable, err := replayBody(out)
	if err != nil {
		return nil, err
	}
	if replayable {
		x.mirror(out, body)
	}
	ctx := out.Context()
	addr := x.addr
	for retries := 0; ; retries++ {
		req := out.Clone(ctx)
		req.URL.Host = addr
		if replayable && body != nil {
			req.Body, req.GetBody = io.NopCloser(bytes.NewReader(body)), nil
		}
		resp, err, done := x.attempt(req)
		if retries > 0 {
			x.u.traffic.retries.Add(-1)
		}
		p := x.f.Retry
		again := p != nil && replayable && retries < p.NumRetries && ctx.Err() == nil &&
			((err != nil && retriableError(p, err)) || (err == nil && p.RetriableStatus(resp.StatusCode)))
		if again && !x.u.traffic.acquireRetry(x.u.cluster.RetryBudget) {
			again = false // over budget: the failure goes to the client
		}
		if !again {
			if err != nil {
				done()
				return nil, err
			}
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: done}
			return resp, nil
		}
		if resp != nil {
			// Drain a little so the connection can be reused.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
		}
		done()
		if !sleepCtx(ctx, backoff(p, retries)) {
			x.u.traffic.retries.Add(-1)
			return nil, ctx.Err()
		}
		next, ok := x.u.pick()
		if !ok {
			x.u.traffic.retries.Add(-1)
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no healthy upstream")}
		}
		addr = next
	}
}

// attempt sends one try, bounded by the per-try timeout. done releases the
// attempt's context: after the response body is closed, or at once on error.
func (x *attempter) attempt(req *http.Request) (*http.Response, error, func()) {
	done := func() {}
	if x.f.PerTryTimeout > 0 {
		ctx, cancel := context.WithTimeoutCause(req.Context(), x.f.PerTryTimeout, errPerTryTimeout)
		req = req.WithContext(ctx)
		done = cancel
	}
	resp, err := x.u.transport.RoundTrip(req)
	if err != nil && context.Cause(req.Context()) == errPerTryTimeout {
		err = errPerTryTimeout
	}
	return resp, err, done
}

// retriableError: connect-failure covers failed dials; reset covers every
// other failure before response headers, including the per-try timeout.
// The route timeout and a client that went away are never retried (the
// caller checks the request context).
func retriableError(p *config.RetryPolicy, err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return p.ConnectFailure
	}
	return p.Reset
}

// backoff is at least the base interval and grows exponentially (with
// jitter) up to the max interval: Gateway API forbids retrying earlier
// than the configured backoff, so unlike Envoy the jitter never goes
// below the base.
func backoff(p *config.RetryPolicy, retries int) time.Duration {
	ceiling := p.BaseInterval << min(retries, 20)
	if ceiling > p.MaxInterval || ceiling <= 0 {
		ceiling = p.MaxInterval
	}
	if ceiling <= p.BaseInterval {
		return p.BaseInterval
	}
	return p.BaseInterval + rand.N(ceiling-p.BaseInterval+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// replayBody reads a request body that may be replayed (see the replay
// rule above). A nil body is replayable.
func replayBody(out *http.Request) (body []byte, replayable bool, err error) {
	if out.Body == nil || out.Body == http.NoBody || out.ContentLength == 0 {
		return nil, true, nil
	}
	if out.ContentLength < 0 || out.ContentLength > maxReplayBody {
		return nil, false, nil
	}
	body = make([]byte, out.ContentLength)
	if _, err := io.ReadFull(out.Body, body); err != nil {
		return nil, false, err
	}
	out.Body.Close()
	out.Body = io.NopCloser(bytes.NewReader(body))
	return body, true, nil
}

// cancelOnClose ends an attempt's context when ReverseProxy is done with
// the response body.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
