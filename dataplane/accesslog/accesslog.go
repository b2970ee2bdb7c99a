// Package accesslog writes one JSON object per line for every HTTP request
// and every proxied TCP connection the data plane serves.
//
// The fields are fixed (no format strings): a log pipeline can rely on them,
// and nothing from configuration is ever interpreted as a template. The path
// is logged without its query string, which often carries tokens.
package accesslog

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// Entry is one access log line. Empty fields are left out.
type Entry struct {
	Time      time.Time `json:"time"`
	Protocol  string    `json:"protocol"` // HTTP/1.1, HTTP/2.0, tcp
	Listener  string    `json:"listener"`
	Route     string    `json:"route,omitempty"`
	Cluster   string    `json:"cluster,omitempty"`
	Upstream  string    `json:"upstream_host,omitempty"`
	Method    string    `json:"method,omitempty"`
	Authority string    `json:"authority,omitempty"`
	Path      string    `json:"path,omitempty"`
	Status    int       `json:"status,omitempty"`
	// BytesReceived is the request body (HTTP) or bytes from the client (TCP);
	// BytesSent the response body or bytes to the client.
	BytesReceived int64 `json:"bytes_received"`
	BytesSent     int64 `json:"bytes_sent"`
	// DurationMS is from the request headers (HTTP) or the accept (TCP) to
	// the end of the exchange, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Client is the downstream address: the PROXY protocol source when the
	// listener has the proxy_protocol listener filter, else the peer.
	Client    string `json:"client_address"`
	RequestID string `json:"request_id,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// Flags explains local replies: "no_route", "no_healthy_upstream",
	// "upstream_connect_error", "upstream_timeout", "upstream_error",
	// "downstream_disconnect", "header_limit".
	Flags string `json:"flags,omitempty"`
}

// Logger writes entries to one writer. A nil *Logger discards entries, so
// "access logs off" is simply no logger.
type Logger struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	pool   sync.Pool
}

// New logs to w.
func New(w io.Writer) *Logger {
	return &Logger{w: w, pool: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// Open returns a logger for a flag value: "" or "off" disables logging (nil
// logger), "stdout" and "stderr" are the process streams, anything else is a
// file path opened for appending (created 0644), so that logrotate's
// copytruncate and plain tail -f both work.
func Open(dest string) (*Logger, error) {
	switch dest {
	case "", "off":
		return nil, nil
	case "stdout", "-":
		return New(os.Stdout), nil
	case "stderr":
		return New(os.Stderr), nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	l := New(f)
	l.closer = f
	return l, nil
}

// Log writes e as one line. Errors are dropped: an access log that cannot
// be written must not fail the request it describes.
func (l *Logger) Log(e *Entry) {
	if l == nil {
		return
	}
	buf := l.pool.Get().(*bytes.Buffer)
	buf.Reset()
	// Encode appends the newline; one Write per line keeps lines whole
	// when several goroutines log at once.
	if err := json.NewEncoder(buf).Encode(e); err == nil {
		l.mu.Lock()
		_, _ = l.w.Write(buf.Bytes())
		l.mu.Unlock()
	}
	if buf.Cap() <= 64<<10 {
		l.pool.Put(buf)
	}
}

// Close closes the file Open opened; stdout and stderr stay open.
func (l *Logger) Close() error {
	if l == nil || l.closer == nil {
		return nil
	}
	return l.closer.Close()
}
