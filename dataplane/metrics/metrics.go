// Package metrics holds the data plane's Prometheus metrics. Every name is
// edgeway_<component>_<what>_<unit>; every label value is a name from the
// xDS configuration (listener, route, cluster) or a small fixed set (status
// class, result, resource type), never request data, so the number of series
// is bounded by the size of the configuration.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values used when a request never reached a route or a cluster
// (404, 400, 431, a local reply): the series stays bounded and visible.
const (
	NoRoute   = "-"
	NoCluster = "-"
)

// Metrics is one data plane's set of collectors, registered in its own
// registry. A nil *Metrics is valid and records nothing, so the proxy and
// tests can run without metrics.
type Metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	upstreamConnErrs *prometheus.CounterVec
	activeConns      *prometheus.GaugeVec
	conns            *prometheus.CounterVec
	rejectedConns    *prometheus.CounterVec
	tlsHandshakes    *prometheus.CounterVec
	tcpSessions      *prometheus.CounterVec
	configSwaps      prometheus.Counter
	configRejections prometheus.Counter
	refusals         refusals

	requestCache sync.Map // requestKey -> *requestSeries
}

// New creates the collectors and a registry holding them plus the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_http_requests_total",
			Help: "HTTP requests answered, by listener, route, cluster and status class (1xx..5xx).",
		}, []string{"listener", "route", "cluster", "status_class"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edgeway_proxy_http_request_duration_seconds",
			Help: "Time from the request headers being read to the end of the response, by listener, route and cluster.",
			// 1ms .. ~33s: edge latencies from a local reply to a slow upstream.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"listener", "route", "cluster"}),
		upstreamConnErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_upstream_connect_errors_total",
			Help: "Failed connection attempts to an upstream endpoint, by cluster.",
		}, []string{"cluster"}),
		activeConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeway_proxy_downstream_connections_active",
			Help: "Open downstream connections, by listener.",
		}, []string{"listener"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_downstream_connections_total",
			Help: "Accepted downstream connections, by listener.",
		}, []string{"listener"}),
		rejectedConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_downstream_connections_rejected_total",
			Help: "Downstream connections closed on accept, by listener and reason (connection_limit, proxy_protocol, no_filter_chain).",
		}, []string{"listener", "reason"}),
		tlsHandshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_tls_handshakes_total",
			Help: "Downstream TLS handshakes, by listener and result (success, failure).",
		}, []string{"listener", "result"}),
		tcpSessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_proxy_tcp_sessions_total",
			Help: "Proxied TCP connections (tcp_proxy and TLS passthrough), by listener and cluster.",
		}, []string{"listener", "cluster"}),
		configSwaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_proxy_config_swaps_total",
			Help: "Compiled configurations swapped in.",
		}),
		configRejections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_proxy_config_rejections_total",
			Help: "Configurations the proxy refused (invalid, or a socket could not be bound).",
		}),
	}
	m.refusals = newRefusals()
	m.reg.MustRegister(m.refusals.total)
	m.reg.MustRegister(m.requests, m.requestDuration, m.upstreamConnErrs, m.activeConns, m.conns,
		m.rejectedConns, m.tlsHandshakes, m.tcpSessions, m.configSwaps, m.configRejections,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where extra collectors (the xDS client's) are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Request records one finished HTTP request.
func (m *Metrics) Request(listener, route, cluster string, status int, d time.Duration) {
	if m == nil {
		return
	}
	rs := m.requestSeriesOf(listener, route, cluster)
	class := statusClassIndex(status)
	c := rs.byClass[class].Load()
	if c == nil {
		c = &counterBox{m.requests.WithLabelValues(listener, route, cluster, StatusClass(status))}
		rs.byClass[class].Store(c)
	}
	c.Inc()
	rs.duration.Observe(d.Seconds())
}

// requestKey names the series Request records into.
type requestKey struct{ listener, route, cluster string }

// requestSeries holds the children of one requestKey. WithLabelValues
// validates and hashes every label value and takes the vector's lock on
// each call; one lookup here per request instead of two there (about 1.5%
// of the proxy's CPU in the HTTP/1.1 benchmark). Series are never deleted,
// so the cache is bounded by the configurations seen, as the vectors are.
type requestSeries struct {
	duration prometheus.Observer
	byClass  [len(statusClasses) + 1]atomic.Pointer[counterBox] // made on first use, so that /metrics shows only the classes seen
}

type counterBox struct{ prometheus.Counter }

func (m *Metrics) requestSeriesOf(listener, route, cluster string) *requestSeries {
	k := requestKey{listener, route, cluster}
	if rs, ok := m.requestCache.Load(k); ok {
		return rs.(*requestSeries)
	}
	rs, _ := m.requestCache.LoadOrStore(k, &requestSeries{duration: m.requestDuration.WithLabelValues(listener, route, cluster)})
	return rs.(*requestSeries)
}

// UpstreamConnectError records a failed connect to an endpoint of cluster.
func (m *Metrics) UpstreamConnectError(cluster string) {
	if m == nil {
		return
	}
	m.upstreamConnErrs.WithLabelValues(cluster).Inc()
}

// ConnOpened records an accepted downstream connection; call ConnClosed
// when it ends.
func (m *Metrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	m.conns.WithLabelValues(listener).Inc()
	m.activeConns.WithLabelValues(listener).Inc()
}

// ConnClosed balances ConnOpened.
func (m *Metrics) ConnClosed(listener string) {
	if m == nil {
		return
	}
	m.activeConns.WithLabelValues(listener).Dec()
}

// ConnRejected records a connection closed before it was served.
func (m *Metrics) ConnRejected(listener, reason string) {
	if m == nil {
		return
	}
	m.rejectedConns.WithLabelValues(listener, reason).Inc()
}

// TLSHandshake records a downstream handshake result.
func (m *Metrics) TLSHandshake(listener string, ok bool) {
	if m == nil {
		return
	}
	result := "success"
	if !ok {
		result = "failure"
	}
	m.tlsHandshakes.WithLabelValues(listener, result).Inc()
}

// TCPSession records a proxied TCP connection.
func (m *Metrics) TCPSession(listener, cluster string) {
	if m == nil {
		return
	}
	m.tcpSessions.WithLabelValues(listener, cluster).Inc()
}

// ConfigSwap records a configuration swapped in.
func (m *Metrics) ConfigSwap() {
	if m == nil {
		return
	}
	m.configSwaps.Inc()
}

// ConfigRejected records a configuration the proxy refused.
func (m *Metrics) ConfigRejected() {
	if m == nil {
		return
	}
	m.configRejections.Inc()
}

// StatusClass maps a status code to "1xx".."5xx" (anything else "other"),
// the only form in which status codes become labels.
func StatusClass(code int) string {
	if i := statusClassIndex(code); i < len(statusClasses) {
		return statusClasses[i] // constants: no string built per request
	}
	return "other"
}

// statusClassIndex: the index of code's class in statusClasses, or
// len(statusClasses) for "other".
func statusClassIndex(code int) int {
	if code >= 100 && code < 600 {
		return code/100 - 1
	}
	return len(statusClasses)
}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
