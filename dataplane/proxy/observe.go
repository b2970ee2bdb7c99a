package proxy

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/metrics"
)

// exchange wraps the ResponseWriter of one HTTP request to learn what the
// access log and the metrics need: the status, the bytes and which route,
// cluster and endpoint served it (noted by the router as it goes).
type exchange struct {
	http.ResponseWriter
	start    time.Time
	listener string
	route    string
	cluster  string
	upstream string
	flags    string
	headers  int // header fields the client sent
	status   int
	sent     int64
	body     *countingBody
	// requestID is the X-Request-Id value begin adds, allocated with the
	// exchange rather than as a slice of its own.
	requestID [1]string
}

// exchanges recycles exchanges: one per request was about half of what an
// HTTP/1.1 request allocated, and every byte allocated brings the next
// collection nearer (see finish for why reuse is safe).
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// begin starts observing a request. It also gives the request its
// X-Request-Id when the client sent none, so that the access log and the
// upstream see the same id (Envoy's HCM does the same before routing).
func (s *socket) begin(w http.ResponseWriter, r *http.Request) *exchange {
	x := exchanges.Get().(*exchange)
	*x = exchange{ResponseWriter: w, start: time.Now(), listener: s.addr, route: metrics.NoRoute, cluster: metrics.NoCluster,
		headers: countHeaders(r.Header)}
	if requestID(r.Header) == "" {
		x.requestID[0] = newRequestID()
		r.Header["X-Request-Id"] = x.requestID[:1:1]
	}
	if r.Body != nil && r.Body != http.NoBody {
		x.body = &countingBody{ReadCloser: r.Body}
		r.Body = x.body
	}
	return x
}

// requestID is h.Get("X-Request-Id") without canonicalizing the name on
// every call: the parsers' maps hold canonical names.
func requestID(h http.Header) string {
	if v := h["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// finish records the request in the metrics and the access log, then
// recycles x. The exchange is the ResponseWriter the handler was given,
// which nothing may use once the handler has returned; its one reference
// that may outlive the handler is the X-Request-Id value it lends to the
// request's header map, which the servers empty before their next request
// (a transport done with the request, as RoundTrip's contract has it once
// the response body is closed, no longer reads it).
func (s *socket) finish(x *exchange, r *http.Request) {
	d := time.Since(x.start)
	status := x.status
	if status == 0 {
		// The handler wrote nothing: net/http sends 200.
		status = http.StatusOK
	}
	s.p.metrics.Request(x.listener, x.route, x.cluster, status, d)
	if s.p.accessLog != nil {
		s.logRequest(x, r, status, d)
	}
	*x = exchange{}
	exchanges.Put(x)
}

// logRequest writes the access log entry of a finished request.
func (s *socket) logRequest(x *exchange, r *http.Request, status int, d time.Duration) {
	e := &accesslog.Entry{
		Time:       x.start.UTC(),
		Protocol:   r.Proto,
		Listener:   x.listener,
		Method:     r.Method,
		Authority:  r.Host,
		Path:       r.URL.EscapedPath(),
		Status:     status,
		BytesSent:  x.sent,
		DurationMS: float64(d.Microseconds()) / 1000,
		Client:     r.RemoteAddr,
		RequestID:  requestID(r.Header),
		UserAgent:  r.UserAgent(),
		Flags:      x.flags,
		Upstream:   x.upstream,
	}
	if x.route != metrics.NoRoute {
		e.Route = x.route
	}
	if x.cluster != metrics.NoCluster {
		e.Cluster = x.cluster
	}
	if x.body != nil {
		e.BytesReceived = x.body.n.Load()
	}
	s.p.accessLog.Log(e)
}

func (x *exchange) WriteHeader(code int) {
	// 1xx are interim responses, except 101 which ends the HTTP exchange
	// (an upgrade).
	if x.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		x.status = code
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	n, err := x.ResponseWriter.Write(b)
	x.sent += int64(n)
	return n, err
}

// Flush lets streamed responses (SSE, gRPC) through the wrapper;
// http.ResponseController finds everything else through Unwrap.
func (x *exchange) Flush() { _ = http.NewResponseController(x.ResponseWriter).Flush() }

func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// exchangeOf finds the exchange under w, nil if the request is not observed.
func exchangeOf(w http.ResponseWriter) *exchange {
	for w != nil {
		if x, ok := w.(*exchange); ok {
			return x
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// noteRoute records the route a request matched.
func noteRoute(w http.ResponseWriter, name string) {
	if x := exchangeOf(w); x != nil && name != "" {
		x.route = name
	}
}

// noteUpstream records the cluster and endpoint a request was sent to.
func noteUpstream(w http.ResponseWriter, cluster, endpoint string) {
	if x := exchangeOf(w); x != nil {
		x.cluster, x.upstream = cluster, endpoint
	}
}

// noteFlags records why the proxy answered by itself.
func noteFlags(w http.ResponseWriter, flags string) {
	if x := exchangeOf(w); x != nil {
		x.flags = flags
	}
}

// countingBody counts the request body bytes the proxy read.
// The transport may still be reading it when the handler returns, hence
// the atomic.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// localReplyFlag names the reason of an upstream failure's local reply.
func localReplyFlag(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "upstream_connect_error"
	case http.StatusGatewayTimeout:
		return "upstream_timeout"
	}
	return "upstream_error"
}

// tcpSession is what the access log records of one proxied connection.
type tcpSession struct {
	start                     time.Time
	listener, cluster, client string
	upstream, flags           string
	sent, received            int64
}

func (p *Proxy) logTCP(s *tcpSession) {
	if p.accessLog == nil {
		return
	}
	p.accessLog.Log(&accesslog.Entry{
		Time: s.start.UTC(), Protocol: "tcp", Listener: s.listener, Cluster: s.cluster, Upstream: s.upstream,
		BytesReceived: s.received, BytesSent: s.sent, DurationMS: float64(time.Since(s.start).Microseconds()) / 1000,
		Client: s.client, Flags: s.flags,
	})
}
