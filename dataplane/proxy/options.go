package proxy

import (
	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/metrics"
)

// Option configures a Proxy at New.
type Option func(*Proxy)

// WithMetrics records requests, connections, TLS handshakes and
// configuration swaps in m.
func WithMetrics(m *metrics.Metrics) Option { return func(p *Proxy) { p.metrics = m } }

// WithAccessLog writes one line per HTTP request and TCP connection to l
// (nil: no access log).
func WithAccessLog(l *accesslog.Logger) Option { return func(p *Proxy) { p.accessLog = l } }

// WithLimits replaces DefaultLimits as the base that xDS settings override.
func WithLimits(l Limits) Option { return func(p *Proxy) { p.limits = l } }
