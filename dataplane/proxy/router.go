package proxy

import (
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// ServeHTTP routes one request on the configuration current when it
// started; a swap during the request does not affect it.
func (s *socket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		r.TLS = handoverTLS(r) // a TLS connection the HTTP/1.1 loop handed over
	}
	x := s.begin(w, r)
	w = x
	defer s.finish(x, r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.p.log.Error("panic while serving request", "panic", v, "stack", string(debug.Stack()))
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusInternalServerError)
		}
	}()
	st := s.p.state.Load()
	l := st.byAddr[s.addr]
	if l == nil {
		// The listener was removed; the socket is draining.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	x.listener = l.Name
	// The connection's chain is chosen again per request so that a
	// keep-alive connection follows configuration changes.
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	chain := l.Chain(sni)
	if chain == nil || chain.HTTP == nil || (chain.TLS != nil) != (r.TLS != nil) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	if r.TLS != nil && misdirected(l, chain, r.Host) {
		// No Connection: close: the client may keep using the connection
		// for the hosts it is good for, and retry this one on a new one.
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	if x.headers > s.limits.maxHeadersFor(chain.HTTP) {
		noteFlags(w, "header_limit")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if !acceptUpgrade(chain.HTTP, r) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !limitBody(chain.HTTP, w, r) {
		return // 413: declared Content-Length over the limit (bodylimit.go)
	}
	s.p.route(st, chain.HTTP, w, r)
}

// route applies the HTTP connection manager and the route table.
func (p *Proxy) route(st *state, hcm *config.HTTPManager, w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	req := config.Request{Method: r.Method, Authority: r.Host, Scheme: scheme, RawQuery: r.URL.RawQuery, Header: r.Header}
	var redirect bool
	var ok bool
	if path, redirect, ok = normalizePath(hcm, path); !ok {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	req.Path = path
	if redirect {
		// UNESCAPE_AND_REDIRECT: send the client to the unescaped path.
		loc := path
		if req.RawQuery != "" {
			loc += "?" + req.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	vh := hcm.Routes.VirtualHost(r.Host)
	if vh == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	rt := vh.Route(&req)
	if rt == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	noteRoute(w, rt.Name)
	if applyCORS(hcm, rt, w, r) {
		return // preflight answered by the proxy
	}
	switch {
	case rt.Direct != nil:
		if rt.Direct.Status == http.StatusForbidden {
			p.refused(w, r, rt.Name)
		}
		rt.ResponseHeaders.Apply(w.Header())
		if rt.Direct.Body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/plain")
		}
		w.WriteHeader(rt.Direct.Status)
		if rt.Direct.Body != "" && r.Method != http.MethodHead {
			w.Write([]byte(rt.Direct.Body))
		}
	case rt.Redirect != nil:
		rt.ResponseHeaders.Apply(w.Header())
		w.Header().Set("Location", rt.Redirect.Location(&req, &rt.Match))
		w.WriteHeader(rt.Redirect.Code)
	case rt.Forward != nil:
		p.forward(st, hcm, rt, &req, w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// normalizePath applies normalize_path, merge_slashes and
// path_with_escaped_slashes_action. ok=false means reject with 400.
func normalizePath(hcm *config.HTTPManager, path string) (out string, redirect, ok bool) {
	if hcm.EscapedSlashes != config.EscapedSlashesKeep && hasEscapedSlash(path) {
		switch hcm.EscapedSlashes {
		case config.EscapedSlashesReject:
			return path, false, false
		case config.EscapedSlashesUnescapeAndRedirect:
			return unescapeSlashes(path), true, true
		case config.EscapedSlashesUnescapeAndForward:
			path = unescapeSlashes(path)
		}
	}
	if hcm.NormalizePath {
		path = removeDotSegments(path)
	}
	if hcm.MergeSlashes && strings.Contains(path, "//") {
		var b strings.Builder
		for i := 0; i < len(path); i++ {
			if path[i] == '/' && i > 0 && path[i-1] == '/' {
				continue
			}
			b.WriteByte(path[i])
		}
		path = b.String()
	}
	return path, false, true
}

func hasEscapedSlash(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '%' && ((p[i+1] == '2' && (p[i+2] == 'f' || p[i+2] == 'F')) || (p[i+1] == '5' && (p[i+2] == 'c' || p[i+2] == 'C'))) {
			return true
		}
	}
	return false
}

func unescapeSlashes(p string) string {
	r := strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", "\\", "%5c", "\\")
	return r.Replace(p)
}

// removeDotSegments is RFC 3986 section 5.2.4, also turning backslashes into
// slashes and decoding "%2e" (an unreserved ".", so equivalent per RFC 3986
// 6.2.2.2) as Envoy's normalize_path does: "/public/%2e%2e/admin" must not
// slip past a "/public" prefix route to a backend that decodes it.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") && !strings.Contains(p, "\\") && !strings.Contains(p, "%2") {
		return p
	}
	p = dotUnescaper.Replace(p)
	p = strings.ReplaceAll(p, "\\", "/")
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	res := strings.Join(out, "/")
	if !strings.HasPrefix(res, "/") {
		res = "/" + res
	}
	return res
}

var dotUnescaper = strings.NewReplacer("%2e", ".", "%2E", ".")
