package gatewayapi

import (
	"github.com/edgeway/edgeway/controller/ir"
)

// terminateChains builds the chains of TLS listeners in Terminate mode: one
// chain per SNI domain of their TLSRoutes, terminating TLS with the
// listener's certificates and proxying the decrypted stream to the route's
// backends. Domain ownership and route choice are those of passthrough
// (passthroughChains): the most specific listener hostname owns a domain,
// then the most specific route domain wins, then the oldest route; a route
// without backends refuses the domain.
func terminateChains(listeners []*listenerCtx) []*ir.TLSChain {
	var patterns []string
	byPattern := map[string]*listenerCtx{}
	domains := map[string]bool{}
	for _, l := range listeners {
		p := pattern(l.hostname)
		patterns = append(patterns, p)
		byPattern[p] = l
		for _, a := range l.tls {
			domains[a.domain] = true
		}
	}
	var out []*ir.TLSChain
	for _, d := range sortedKeys(domains) {
		own := byPattern[owner(patterns, d)]
		if own == nil || !own.tlsTerminate || own.acmePending() {
			continue
		}
		var best *tlsAttachment
		for _, a := range own.tls {
			if !covers(a.domain, d) {
				continue
			}
			if best == nil || moreSpecific(a.domain, best.domain) || (a.domain == best.domain && olderFirst(a.route, best.route)) {
				best = a
			}
		}
		if best == nil {
			continue
		}
		if !anyWeight(best.backends) {
			out = append(out, refuseChain(d)) // as in passthroughChains
			continue
		}
		out = append(out, &ir.TLSChain{
			Name:        "tls/" + d,
			ServerNames: serverNames(d),
			Terminate: &ir.TLSTerminate{
				Certificates: append([]string(nil), own.certificates...),
				TCP:          &ir.TCPChain{Backends: append([]ir.WeightedCluster(nil), best.backends...)},
			},
		})
	}
	return out
}

// markChainSecrets records the certificates and CA bundles a listener's
// terminating chains reference, so that exactly those are emitted.
func markChainSecrets(l *ir.Listener, used map[string]bool) {
	for _, c := range l.TLS {
		if c.Terminate == nil {
			continue
		}
		for _, s := range c.Terminate.Certificates {
			used[s] = true
		}
		if cv := c.Terminate.ClientValidation; cv != nil {
			used[cv.CACertificates] = true
		}
	}
}
