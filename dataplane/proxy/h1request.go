package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// The request side of the HTTP/1.1 exchange (h1exchange.go): the head as
// httputil.ReverseProxy + http.Transport wrote it (hop-by-hop fields out,
// forwarding fields in, the route's header changes applied), written from
// the client's header map without copying it when there are no changes.

// h1Request is what writeH1Request writes, held for sendAwait.
type h1Request struct {
	hcm    *config.HTTPManager
	rt     *config.Route
	wc     *config.WeightedCluster
	target string
	scheme string
	r      *http.Request
}

func (q h1Request) write(pc *h1Conn) error {
	return writeH1Request(pc, q.hcm, q.rt, q.wc, q.target, q.scheme, q.r)
}

// writeH1Request writes the request head (the route's header changes and
// the forwarding headers applied) and its body, then flushes.
func writeH1Request(pc *h1Conn, hcm *config.HTTPManager, rt *config.Route, wc *config.WeightedCluster, target, scheme string, r *http.Request) error {
	bw := pc.bw
	f := rt.Forward
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	if r.URL.ForceQuery || r.URL.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	switch {
	case f.HostRewrite != "":
		bw.WriteString(f.HostRewrite)
	case r.Host != "":
		bw.WriteString(r.Host)
	default:
		bw.WriteString(pc.addr) // as Transport: the URL's host
	}
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	if wc.RequestHeaders.Empty() && rt.RequestHeaders.Empty() {
		// The usual case: the client's fields as they are, without a copy.
		for k, vv := range r.Header {
			if skipRequestField(k, conn) || k == "X-Forwarded-For" || k == "X-Forwarded-Proto" {
				continue
			}
			writeField(bw, k, vv)
		}
		writeForwardedDirect(bw, r, hcm.UseRemoteAddress, scheme)
	} else {
		// Header changes need a map to apply to, as ReverseProxy had.
		out := make(http.Header, len(r.Header)+3)
		for k, vv := range r.Header {
			if skipRequestField(k, conn) {
				continue
			}
			switch k {
			case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded":
				continue // setForwardedHeaders decides
			}
			out[k] = append([]string(nil), vv...)
		}
		setForwardedHeaders(r, out, hcm.UseRemoteAddress, scheme)
		wc.RequestHeaders.Apply(out)
		rt.RequestHeaders.Apply(out)
		for k, vv := range out {
			if skipRequestField(k, nil) {
				continue
			}
			writeField(bw, k, vv)
		}
	}
	if headerHasToken(r.Header, "Te", "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		if _, err := io.CopyN(bw, r.Body, r.ContentLength); err != nil {
			return err
		}
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		// As Transport: many servers want a length on these methods.
		bw.WriteString("Content-Length: 0\r\n\r\n")
	default:
		bw.WriteString("\r\n")
	}
	return bw.Flush()
}

// skipRequestField: fields not forwarded as they are. Hop-by-hop fields
// and those the client's Connection field lists describe the client's
// connection; Host and Content-Length are written from the request.
func skipRequestField(k string, conn []string) bool {
	if isHopByHop(k) || k == "Host" || k == "Content-Length" {
		return true
	}
	if k == "X-Request-Id" {
		// The proxy's own field (begin sets it; the access log records
		// it): the upstream gets the same id even when the client's
		// Connection field lists it.
		return false
	}
	for _, v := range conn {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), k) {
				return true
			}
		}
	}
	return false
}

func writeField(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(v)
		bw.WriteString("\r\n")
	}
}

// writeForwardedDirect writes what setForwardedHeaders puts in a map:
// X-Forwarded-For gets the client address (appended under
// use_remote_address, only when absent otherwise), X-Forwarded-Proto the
// scheme unless the client's is trusted; X-Request-Id when absent.
func writeForwardedDirect(bw *bufio.Writer, r *http.Request, useRemote bool, scheme string) {
	clientIP := remoteHost(r.RemoteAddr)
	prior := r.Header["X-Forwarded-For"]
	switch {
	case len(prior) == 0:
		writeField1(bw, "X-Forwarded-For", clientIP)
	case useRemote:
		bw.WriteString("X-Forwarded-For: ")
		for _, v := range prior {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
		bw.WriteString(clientIP)
		bw.WriteString("\r\n")
	default:
		writeField(bw, "X-Forwarded-For", prior)
	}
	if v := r.Header["X-Forwarded-Proto"]; len(v) > 0 && !useRemote {
		writeField(bw, "X-Forwarded-Proto", v)
	} else {
		writeField1(bw, "X-Forwarded-Proto", scheme)
	}
	if requestID(r.Header) == "" {
		writeField1(bw, "X-Request-Id", newRequestID())
	}
}

// remoteHost is the host of a RemoteAddr, or the whole of it when it has
// no port (as the callers of net.SplitHostPort here do). An IPv4 address,
// the usual case, skips SplitHostPort's general parsing.
func remoteHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && addr[0] != '[' && strings.IndexByte(addr[:i], ':') < 0 {
		return addr[:i]
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func writeField1(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}
