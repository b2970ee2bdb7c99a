package proxy

import (
	"net/http"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// Limits are the edge defences of one bound socket: what a client may send
// and how long it may take. Defaults follow Envoy's edge-proxy best practices
// (https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge)
// and Go's net/http; docs/xds-contract.md ("Edge defences") has the table.
// The xDS fields that override them are read from the socket's first HTTP
// filter chain when the socket is bound (net/http cannot change a running
// server's limits); the per-request checks (header count) use the chain of
// the request.
//
// The HTTP/2 server (h2srv*.go) reads HTTP2Config, RequestHeadersTimeout
// (preface and first request head), IdleTimeout and MaxRequestHeaderBytes
// (header list size): every HTTP/2 setting the proxy applies belongs here,
// next to the HTTP/1.1 ones.
type Limits struct {
	// MaxRequestHeaderBytes bounds the request line plus headers
	// (max_request_headers_kb; Envoy default 60 KiB). Beyond it: 431.
	// net/http allows 4 KiB of slack for HTTP/1.1 on top of it.
	MaxRequestHeaderBytes int
	// MaxRequestHeaders bounds the number of header fields
	// (common_http_protocol_options.max_headers_count; Envoy default 100).
	// Beyond it: 431.
	MaxRequestHeaders int
	// RequestHeadersTimeout is the slowloris defence: the whole request
	// head must arrive within it (request_headers_timeout; Envoy's edge
	// recommendation 10s; Envoy's own default is none, too lax at the edge).
	RequestHeadersTimeout time.Duration
	// IdleTimeout closes a keep-alive connection without requests
	// (common_http_protocol_options.idle_timeout; Envoy default 1h).
	IdleTimeout time.Duration
	// MaxConnections bounds the open connections of one socket; new ones
	// beyond it are closed at once. Per chain: the connection_limit filter
	// (config.FilterChain.MaxConnections).
	MaxConnections int64

	// HTTP/2 (Envoy edge recommendations; overridden by the HCM's
	// http2_protocol_options). Streams beyond MaxConcurrentStreams are
	// refused (RST_STREAM REFUSED_STREAM); the flood defences (rapid
	// reset, empty CONTINUATION, PING/SETTINGS) are in h2guard.go.
	MaxConcurrentStreams        int // 100: max_concurrent_streams
	InitialStreamWindowSize     int // 64 KiB: initial_stream_window_size, per-stream receive buffer
	InitialConnectionWindowSize int // 1 MiB: initial_connection_window_size, per-connection receive buffer
	MaxReadFrameSize            int // 16 KiB: the protocol's minimum, no large frames
}

// DefaultLimits are the limits of a socket whose configuration sets none.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestHeaderBytes:       60 << 10,
		MaxRequestHeaders:           100,
		RequestHeadersTimeout:       10 * time.Second,
		IdleTimeout:                 time.Hour,
		MaxConnections:              50000,
		MaxConcurrentStreams:        100,
		InitialStreamWindowSize:     64 << 10,
		InitialConnectionWindowSize: 1 << 20,
		MaxReadFrameSize:            16 << 10,
	}
}

// limitsFor applies the first HTTP chain's xDS settings over base.
func limitsFor(base Limits, l *config.Listener) Limits {
	lim := base
	for _, c := range l.Chains {
		if c.HTTP == nil {
			continue
		}
		h := c.HTTP
		if h.RequestHeadersTimeout > 0 {
			lim.RequestHeadersTimeout = h.RequestHeadersTimeout
		}
		if h.IdleTimeout > 0 {
			lim.IdleTimeout = h.IdleTimeout
		}
		if h.Limits.MaxRequestHeadersKB > 0 {
			lim.MaxRequestHeaderBytes = int(h.Limits.MaxRequestHeadersKB) << 10
		}
		if h.Limits.MaxHeadersCount > 0 {
			lim.MaxRequestHeaders = int(h.Limits.MaxHeadersCount)
		}
		if v := h.Limits.HTTP2.MaxConcurrentStreams; v > 0 {
			lim.MaxConcurrentStreams = int(v)
		}
		if v := h.Limits.HTTP2.InitialStreamWindowSize; v > 0 {
			lim.InitialStreamWindowSize = int(v)
		}
		if v := h.Limits.HTTP2.InitialConnectionWindowSize; v > 0 {
			lim.InitialConnectionWindowSize = int(v)
		}
		break
	}
	return lim
}

// maxHeadersFor is the header count limit of one request's chain.
func (lim Limits) maxHeadersFor(h *config.HTTPManager) int {
	if h != nil && h.Limits.MaxHeadersCount > 0 {
		return int(h.Limits.MaxHeadersCount)
	}
	return lim.MaxRequestHeaders
}

// HTTP2Config is the HTTP/2 configuration of these limits: what the
// data plane's HTTP/2 server advertises and enforces (newH2Server), in
// net/http's type, which also configures a net/http server with them.
func (lim Limits) HTTP2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          lim.MaxConcurrentStreams,
		MaxReadFrameSize:              lim.MaxReadFrameSize,
		MaxReceiveBufferPerStream:     lim.InitialStreamWindowSize,
		MaxReceiveBufferPerConnection: lim.InitialConnectionWindowSize,
		// HPACK tables: the protocol default, so a client cannot make the
		// server keep more header state than MaxRequestHeaderBytes allows.
		MaxDecoderHeaderTableSize: 4096,
	}
}

// applyTo sets the limits on an HTTP server before it serves.
func (lim Limits) applyTo(srv *http.Server) {
	srv.ReadHeaderTimeout = lim.RequestHeadersTimeout
	srv.IdleTimeout = lim.IdleTimeout
	srv.MaxHeaderBytes = lim.MaxRequestHeaderBytes
	srv.HTTP2 = lim.HTTP2Config()
}

// countHeaders counts header fields as a client sent them (one per value).
func countHeaders(h http.Header) int {
	n := 0
	for _, v := range h {
		n += len(v)
	}
	return n
}
