package proxy

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// forward proxies the request to an endpoint of the route's cluster.
func (p *Proxy) forward(st *state, hcm *config.HTTPManager, rt *config.Route, req *config.Request, w http.ResponseWriter, r *http.Request) {
	f := rt.Forward
	wc := f.Clusters.Pick(rand.Uint64())
	var u *upstream
	if wc != nil {
		u = st.upstreams[wc.Name]
	}
	if u == nil {
		noteFlags(w, "no_healthy_upstream")
		p.localReply(rt, w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	addr, ok := u.pick()
	if !ok {
		noteUpstream(w, wc.Name, "")
		noteFlags(w, "no_healthy_upstream")
		p.localReply(rt, w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	noteUpstream(w, wc.Name, addr)
	upPath := f.RewritePath(&rt.Match, req.Path)
	scheme := req.Scheme
	u.traffic.active.Add(1)
	defer u.traffic.active.Add(-1)
	if h1Eligible(u, f, r, upPath) {
		p.forwardH1(hcm, rt, wc, u, addr, upPath, scheme, w, r)
		return
	}
	rp := &httputil.ReverseProxy{
		Transport: p.roundTripper(st, f, u, addr, r),
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme = upstreamScheme(u)
			out.URL.Host = addr
			setPath(out.URL, upPath)
			if f.HostRewrite != "" {
				out.Host = f.HostRewrite
			}
			setForwardedHeaders(pr.In, out.Header, hcm.UseRemoteAddress, scheme)
			wc.RequestHeaders.Apply(out.Header)
			rt.RequestHeaders.Apply(out.Header)
		},
		ModifyResponse: func(resp *http.Response) error {
			dropUpstreamCORS(w, resp.Header)
			wc.ResponseHeaders.Apply(resp.Header)
			rt.ResponseHeaders.Apply(resp.Header)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, outReq *http.Request, err error) {
			status, msg := upstreamErrorStatus(outReq, err)
			p.answerUpstreamFailure(rt, u, addr, w, r, err, status, msg)
		},
		ErrorLog:   p.errLog,
		BufferPool: &p.bufPool,
	}
	// The route timeout covers the whole exchange. Upgraded connections
	// (WebSocket) are long-lived streams and are not bounded by it. (A new
	// variable, not r: the closures above capture r, and reassigning it
	// would move it to the heap, one allocation per request.)
	in := r
	if f.Timeout > 0 && r.Header.Get("Upgrade") == "" {
		ctx, cancel := context.WithTimeout(r.Context(), f.Timeout)
		defer cancel()
		in = r.WithContext(ctx)
	}
	rp.ServeHTTP(w, in)
}

// localReply answers from the proxy itself, still applying the route's
// response header mutation.
func (p *Proxy) localReply(rt *config.Route, w http.ResponseWriter, status int, body string) {
	h := w.Header()
	rt.ResponseHeaders.Apply(h)
	h.Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// upstreamErrorStatus maps a failed upstream exchange to the status the
// client gets: connect failures are 503 (the contract), the route timeout
// 504, anything else after the connection was made 502. 0: client gone.
func upstreamErrorStatus(r *http.Request, err error) (int, string) {
	if errors.Is(r.Context().Err(), context.DeadlineExceeded) || errors.Is(err, errPerTryTimeout) {
		return http.StatusGatewayTimeout, "upstream request timeout"
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		return 0, ""
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return http.StatusServiceUnavailable, "upstream connect error"
	}
	return http.StatusBadGateway, "upstream error"
}

// answerUpstreamFailure answers a request whose upstream exchange failed
// before the response started; both exchanges (ReverseProxy's error
// handler and the HTTP/1.1 exchange) end here. status and msg come from
// upstreamErrorStatus or h1ErrorStatus; 0 means the client went away. A
// body that crossed the limit while streaming (bodylimit.go) is why the
// exchange failed, so the client gets 413 for it.
func (p *Proxy) answerUpstreamFailure(rt *config.Route, u *upstream, addr string, w http.ResponseWriter, in *http.Request, err error, status int, msg string) {
	if bodyTooLarge(in) {
		noteFlags(w, "request_body_limit")
		rt.ResponseHeaders.Apply(w.Header())
		replyTooLarge(w, in)
		return
	}
	if status == 0 {
		return // the client went away; nobody to answer
	}
	p.log.Debug("upstream request failed", "cluster", u.cluster.Name, "endpoint", addr, "status", status, "error", err)
	if status == http.StatusServiceUnavailable {
		p.metrics.UpstreamConnectError(u.cluster.Name)
	}
	noteFlags(w, localReplyFlag(status))
	p.localReply(rt, w, status, msg)
}

// setPath sets an already escaped path on u, keeping its escaping exactly.
func setPath(u *url.URL, escaped string) {
	if p, err := url.PathUnescape(escaped); err == nil {
		u.Path, u.RawPath = p, escaped
		if u.EscapedPath() != escaped {
			// Not a canonical escaping: send it verbatim.
			u.Path, u.RawPath, u.Opaque = "", "", escaped
		}
		return
	}
	u.Path, u.RawPath, u.Opaque = "", "", escaped
}

// setForwardedHeaders restores and completes the forwarding headers that
// httputil.ReverseProxy strips before Rewrite. X-Forwarded-For gets the
// client address appended when use_remote_address is set (Envoy's edge
// mode) and is only added when absent otherwise; X-Forwarded-Proto and
// X-Request-Id are added when absent.
func setForwardedHeaders(in *http.Request, out http.Header, useRemote bool, scheme string) {
	clientIP, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		clientIP = in.RemoteAddr
	}
	// One backing array for the two values usually set here, one
	// allocation instead of two; each header gets a full slice expression
	// (capacity 1) so that an append to one cannot overwrite the other.
	vals := make([]string, 2)
	prior := in.Header["X-Forwarded-For"]
	switch {
	case len(prior) == 0:
		vals[0] = clientIP
		out["X-Forwarded-For"] = vals[0:1:1]
	case useRemote:
		vals[0] = strings.Join(prior, ", ") + ", " + clientIP
		out["X-Forwarded-For"] = vals[0:1:1]
	default:
		out["X-Forwarded-For"] = prior
	}
	if v := in.Header["X-Forwarded-Proto"]; len(v) > 0 && !useRemote {
		out["X-Forwarded-Proto"] = v
	} else {
		vals[1] = scheme
		out["X-Forwarded-Proto"] = vals[1:2:2]
	}
	if v := in.Header["X-Forwarded-Host"]; len(v) > 0 {
		out["X-Forwarded-Host"] = v
	}
	if v := in.Header["Forwarded"]; len(v) > 0 {
		out["Forwarded"] = v
	}
	if out.Get("X-Request-Id") == "" {
		// ReverseProxy dropped it when the client's Connection field
		// listed it; the upstream still gets the id the access log has.
		if id := in.Header["X-Request-Id"]; len(id) > 0 && id[0] != "" {
			out["X-Request-Id"] = id[:1:1]
		} else {
			out["X-Request-Id"] = []string{newRequestID()}
		}
	}
}

// newRequestID returns a random UUID (version 4). Its bits come from
// math/rand/v2's global generator (ChaCha8, seeded by the OS, per thread):
// an id has to be unique, not secret, and crypto/rand costs a getrandom
// system call per request (about 0.5 µs against 0.05).
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:16], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
