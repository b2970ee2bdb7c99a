package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/edgeway/edgeway/dataplane/config"
)

// Request body limits (HTTPManager.MaxRequestBodyBytes, the buffer
// filter's max_request_bytes). Envoy's buffer filter holds the whole body
// before forwarding; this data plane never buffers a body for the limit:
//
//   - a declared Content-Length over the limit is answered 413 before any
//     upstream is contacted;
//   - any other body (chunked, HTTP/2 without content-length) streams to
//     the upstream through a counting reader; the read that crosses the
//     limit fails, which aborts the upstream request: the client gets 413
//     if no response has started, else the stream is reset (HTTP/2
//     RST_STREAM, HTTP/1.1 connection closed) by ReverseProxy's
//     ErrAbortHandler.
//
// Upgrades (WebSocket) are exempt: after the 101 the connection is a byte
// stream, not a request body.

// errBodyTooLarge is what a limited body returns once it crossed the limit.
var errBodyTooLarge = errors.New("request body exceeds the listener's max_request_bytes")

// bodyLimiter counts a request body as the upstream transport reads it.
type bodyLimiter struct {
	io.ReadCloser
	remaining int64
	// exceeded is read by the error handler on the request goroutine while
	// the transport's writer goroutine reads the body.
	exceeded atomic.Bool
}

func (b *bodyLimiter) Read(p []byte) (int, error) {
	if b.exceeded.Load() {
		return 0, errBodyTooLarge
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.remaining {
		b.exceeded.Store(true)
		return 0, errBodyTooLarge
	}
	b.remaining -= int64(n)
	return n, err
}

// bodyTooLarge reports whether r's body crossed the limit.
func bodyTooLarge(r *http.Request) bool {
	b, ok := r.Body.(*bodyLimiter)
	return ok && b.exceeded.Load()
}

// limitBody applies the chain's body limit before routing: false means it
// answered 413 (declared length over the limit). Otherwise the body, if
// any, now counts against the limit as it streams.
func limitBody(hcm *config.HTTPManager, w http.ResponseWriter, r *http.Request) bool {
	limit := int64(hcm.MaxRequestBodyBytes)
	if limit == 0 || r.Header.Get("Upgrade") != "" {
		return true
	}
	if r.ContentLength > limit {
		noteFlags(w, "request_body_limit")
		replyTooLarge(w, r)
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &bodyLimiter{ReadCloser: r.Body, remaining: limit}
	}
	return true
}

// replyTooLarge answers 413. HTTP/1.1 closes the connection: the rest of
// the body is unread, and the client need not send it.
func replyTooLarge(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	w.Write([]byte("request body too large"))
}
