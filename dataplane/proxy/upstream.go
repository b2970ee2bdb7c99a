package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// upstream is the runtime side of a cluster: its resolved endpoints, the
// round-robin position and a shared keep-alive pool. Upstreams outlive
// configurations: an unchanged cluster keeps its object across swaps, and a
// changed one keeps the pool (pools are keyed by endpoint address anyway).
type upstream struct {
	cluster   *config.Cluster
	transport *http.Transport
	pool      *h1Pool // HTTP/1.1 clusters' exchange (h1exchange.go); nil for HTTP/2
	dialer    *net.Dialer
	eps       atomic.Pointer[endpointSet]
	next      atomic.Uint64
	stop      context.CancelFunc // DNS refresh; nil for EDS
	stopped   sync.Once
	// traffic feeds the retry budget and bounds mirrors (attempts.go).
	traffic traffic
}

// endpointSet is an immutable list of addresses with a smooth weighted
// round-robin schedule over them.
type endpointSet struct {
	addrs    []string
	schedule []uint16
}

// maxSchedule bounds the schedule; larger weight sums are scaled down.
const maxSchedule = 1 << 14

func newEndpointSet(eps []resolvedEndpoint) *endpointSet {
	s := &endpointSet{}
	if len(eps) == 0 {
		return s
	}
	if len(eps) > maxSchedule {
		eps = eps[:maxSchedule]
	}
	weights := make([]uint64, len(eps))
	var sum uint64
	for i, e := range eps {
		s.addrs = append(s.addrs, e.addr)
		weights[i] = uint64(max(e.weight, 1))
		sum += weights[i]
	}
	g := weights[0]
	for _, w := range weights[1:] {
		g = gcd(g, w)
	}
	sum /= g
	for i := range weights {
		weights[i] /= g
	}
	if sum > maxSchedule {
		// Keep the proportions, rounded, in a bounded schedule; every
		// endpoint keeps at least one slot.
		var scaled uint64
		for i := range weights {
			weights[i] = max(weights[i]*maxSchedule/sum, 1)
			scaled += weights[i]
		}
		sum = scaled
	}
	// Smooth weighted round-robin (as nginx): spreads heavy endpoints
	// through the cycle instead of sending them bursts.
	current := make([]int64, len(weights))
	s.schedule = make([]uint16, 0, sum)
	for range sum {
		best := 0
		for i, w := range weights {
			current[i] += int64(w)
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= int64(sum)
		s.schedule = append(s.schedule, uint16(best))
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type resolvedEndpoint struct {
	addr   string
	weight uint32
}

// pick returns the next endpoint address in round-robin order.
func (u *upstream) pick() (string, bool) {
	s := u.eps.Load()
	if s == nil || len(s.schedule) == 0 {
		return "", false
	}
	n := u.next.Add(1) - 1
	return s.addrs[s.schedule[n%uint64(len(s.schedule))]], true
}

// newTransport is the shared pool of one cluster. Proxy settings from the
// environment are deliberately not used, and compression is left to the
// client and backend.
func newTransport(d *net.Dialer, proto config.UpstreamProtocol) *http.Transport {
	t := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if proto == config.UpstreamHTTP2 {
		t.Protocols = upstreamH2C()
	}
	return t
}

// newClusterTransport is the pool state of a cluster that outlives
// configuration swaps (see clusterTransport).
func newClusterTransport(c *config.Cluster) *clusterTransport {
	d := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	ct := &clusterTransport{timeout: c.ConnectTimeout, protocol: c.Protocol, tlsKey: c.TLS.Fingerprint(), dialer: d,
		transport: newTransport(d, c.Protocol), pool: newH1Pool(d, c)}
	applyUpstreamTLS(ct.transport, c)
	return ct
}

// closeIdle closes the idle connections of both pools.
func (ct *clusterTransport) closeIdle() {
	ct.transport.CloseIdleConnections()
	ct.pool.closeIdle()
}

// staticEndpoints are EDS endpoints: IP addresses, no resolution needed.
func staticEndpoints(c *config.Cluster) []resolvedEndpoint {
	out := make([]resolvedEndpoint, 0, len(c.Endpoints))
	for _, e := range c.Endpoints {
		out = append(out, resolvedEndpoint{addr: net.JoinHostPort(e.Host, strconv.FormatUint(uint64(e.Port), 10)), weight: e.Weight})
	}
	return out
}

func (u *upstream) close() {
	u.stopped.Do(func() {
		if u.stop != nil {
			u.stop()
		}
	})
}
