package serviceproxy

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// balancer chooses endpoints for one Service port. The listeners of that port
// (on the ClusterIP and on the LoadBalancer address) share it; sync replaces
// its endpoints and affinity while connections are being accepted, and a
// change applies to the next connection or UDP session.
type balancer struct {
	endpoints atomic.Pointer[[]netip.AddrPort]
	next      atomic.Uint64 // round-robin position

	mu       sync.Mutex
	affinity time.Duration // 0: none (sessionAffinity: None)
	clients  map[netip.Addr]affinityEntry
}

type affinityEntry struct {
	endpoint netip.AddrPort
	expires  time.Time
}

// maxAffinityEntries bounds the ClientIP table between sweeps of expired
// entries.
const maxAffinityEntries = 4096

func newBalancer() *balancer {
	b := &balancer{}
	b.endpoints.Store(new([]netip.AddrPort))
	return b
}

// update sets the endpoints and the ClientIP affinity timeout (0 for none).
func (b *balancer) update(eps []netip.AddrPort, affinity time.Duration) {
	if !slices.Equal(*b.endpoints.Load(), eps) {
		b.endpoints.Store(&eps)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if affinity != b.affinity {
		b.affinity = affinity
		b.clients = nil
	}
}

// current is the endpoint list now in force.
func (b *balancer) current() []netip.AddrPort { return *b.endpoints.Load() }

// has reports whether ep still is an endpoint (a UDP session to one that is
// gone moves on to another).
func (b *balancer) has(ep netip.AddrPort) bool {
	_, found := slices.BinarySearchFunc(b.current(), ep, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return found
}

// candidates returns every endpoint in the order to try them for a new
// connection from client: the one client is bound to by ClientIP affinity
// (if it still is an endpoint) first, then round-robin from the next
// position. Empty when there is no endpoint.
func (b *balancer) candidates(client netip.Addr) []netip.AddrPort {
	eps := b.current()
	if len(eps) == 0 {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(eps))
	if ep, ok := b.affine(client); ok && slices.Contains(eps, ep) {
		out = append(out, ep)
	}
	start := int(b.next.Add(1) % uint64(len(eps)))
	for i := range eps {
		if ep := eps[(start+i)%len(eps)]; len(out) == 0 || ep != out[0] {
			out = append(out, ep)
		}
	}
	return out
}

func (b *balancer) affine(client netip.Addr) (netip.AddrPort, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.clients[client]
	if !ok || b.affinity == 0 || time.Now().After(e.expires) {
		return netip.AddrPort{}, false
	}
	return e.endpoint, true
}

// used records that client was served by ep, for ClientIP affinity.
func (b *balancer) used(client netip.Addr, ep netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.affinity == 0 {
		return
	}
	now := time.Now()
	if b.clients == nil {
		b.clients = map[netip.Addr]affinityEntry{}
	}
	if len(b.clients) >= maxAffinityEntries {
		for c, e := range b.clients {
			if now.After(e.expires) {
				delete(b.clients, c)
			}
		}
	}
	b.clients[client] = affinityEntry{endpoint: ep, expires: now.Add(b.affinity)}
}
