package proxy

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/dataplane/config"
)

// mirror sends a fire-and-forget copy of the outgoing request (headers
// already mutated, body replayable) to each sampled mirror cluster. The
// copy has its own context, so it neither delays nor depends on the main
// request; its response is read and discarded. As in Envoy, the mirrored
// request's Host gets a "-shadow" suffix (before the port).
func (x *attempter) mirror(out *http.Request, body []byte) {
	for _, m := range x.f.Mirrors {
		if !m.Sampled(rand.Uint64()) {
			continue
		}
		mu := x.st.upstreams[m.Cluster]
		if mu == nil {
			continue
		}
		addr, ok := mu.pick()
		if !ok {
			continue
		}
		if mu.traffic.mirrors.Add(1) > maxMirrorsInFlight {
			mu.traffic.mirrors.Add(-1)
			continue
		}
		timeout := x.f.Timeout
		if timeout <= 0 {
			timeout = config.DefaultRouteTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		req := out.Clone(ctx)
		req.URL.Host = addr
		req.URL.Scheme = upstreamScheme(mu)
		req.Host = shadowHost(out.Host)
		req.Body, req.GetBody = http.NoBody, nil
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		go func() {
			defer cancel()
			defer mu.traffic.mirrors.Add(-1)
			resp, err := mu.transport.RoundTrip(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}()
	}
}

// shadowHost is Envoy's shadow authority: "host-shadow" or "host-shadow:port".
func shadowHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		return host[:i] + "-shadow" + host[i:]
	}
	return host + "-shadow"
}
