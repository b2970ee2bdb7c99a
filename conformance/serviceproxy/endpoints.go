package serviceproxy

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpointsFor picks the endpoints of Service port sp from the Service's
// EndpointSlices, as kube-proxy does: the slice port whose name equals sp's
// name (and whose protocol is sp's) gives the target port; the ready
// endpoints are used, or, when none is ready, those that are still serving
// while terminating (so that connections keep working during a rolling
// update). Only IPv4 addresses inside the pod block count (see allowed);
// skipped lists the others, for the log.
func endpointsFor(sp corev1.ServicePort, from []*discoveryv1.EndpointSlice, allowed func(netip.Addr) bool) (eps []netip.AddrPort, skipped []string) {
	var ready, terminating []netip.AddrPort
	for _, s := range from {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		port, ok := slicePort(s, sp)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			// Like kube-proxy: the first address is the endpoint's.
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || !ip.Is4() || !allowed(ip) {
				skipped = append(skipped, ep.Addresses[0])
				continue
			}
			c := ep.Conditions
			isReady := c.Ready == nil || *c.Ready
			serving := c.Serving == nil || *c.Serving
			isTerminating := c.Terminating != nil && *c.Terminating
			ap := netip.AddrPortFrom(ip, port)
			switch {
			case isReady:
				ready = append(ready, ap)
			case serving && isTerminating:
				terminating = append(terminating, ap)
			}
		}
	}
	eps = ready
	if len(eps) == 0 {
		eps = terminating
	}
	// Sorted and unique: one endpoint may appear in several slices while
	// they are rewritten, and a stable order keeps round-robin fair.
	slices.SortFunc(eps, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(eps), skipped
}

// slicePort is the port number slice s gives Service port sp: the slice port
// with sp's name (both may be empty) and protocol.
func slicePort(s *discoveryv1.EndpointSlice, sp corev1.ServicePort) (uint16, bool) {
	for _, p := range s.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if name == sp.Name && proto == sp.Protocol && p.Port != nil && *p.Port > 0 && *p.Port < 65536 {
			return uint16(*p.Port), true
		}
	}
	return 0, false
}
