package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgeway/edgeway/dataplane/config"
)

// dnsResolver keeps the addresses of a STRICT_DNS cluster's host names. A
// failed lookup keeps the last good addresses of that host, so a DNS outage
// does not empty a working cluster.
type dnsResolver struct {
	log      *slog.Logger
	resolver *net.Resolver
	cluster  *config.Cluster
	u        *upstream
	mu       sync.Mutex
	last     map[string][]netip.Addr // host -> last good addresses
}

// refresh resolves every host once and publishes the new endpoint set.
func (d *dnsResolver) refresh(ctx context.Context) {
	var out []resolvedEndpoint
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.cluster.Endpoints {
		addrs, ok := d.lookup(ctx, e.Host)
		if !ok {
			addrs = d.last[e.Host]
		} else {
			d.last[e.Host] = addrs
		}
		port := strconv.FormatUint(uint64(e.Port), 10)
		for _, a := range addrs {
			out = append(out, resolvedEndpoint{addr: net.JoinHostPort(a.String(), port), weight: e.Weight})
		}
	}
	d.u.eps.Store(newEndpointSet(out))
}

func (d *dnsResolver) lookup(ctx context.Context, host string) ([]netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, true
	}
	lctx, cancel := context.WithTimeout(ctx, max(d.cluster.ConnectTimeout, 2*time.Second))
	defer cancel()
	ips, err := d.resolver.LookupNetIP(lctx, "ip", host)
	if err != nil || len(ips) == 0 {
		if ctx.Err() == nil {
			d.log.Warn("dns lookup failed, keeping last addresses", "cluster", d.cluster.Name, "host", host, "error", err)
		}
		return nil, false
	}
	return filterFamily(ips, d.cluster.DNSFamily), true
}

// filterFamily applies dns_lookup_family: the *_PREFERRED/AUTO forms use
// the preferred family when it has any address and the other one otherwise.
func filterFamily(ips []netip.Addr, fam config.DNSFamily) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	switch fam {
	case config.DNSV4Only:
		return v4
	case config.DNSV6Only:
		return v6
	case config.DNSV4Preferred:
		if len(v4) > 0 {
			return v4
		}
		return v6
	case config.DNSAll:
		return append(v4, v6...)
	default: // AUTO: IPv6 preferred, as in Envoy
		if len(v6) > 0 {
			return v6
		}
		return v4
	}
}

// run re-resolves every dns_refresh_rate until ctx ends.
func (d *dnsResolver) run(ctx context.Context) {
	t := time.NewTicker(d.cluster.DNSRefreshRate)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.refresh(ctx)
		}
	}
}
