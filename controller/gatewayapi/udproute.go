package gatewayapi

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// udpAttachment is a UDPRoute attached to a UDP listener.
type udpAttachment struct {
	route    *gwv1.UDPRoute
	backends []ir.WeightedCluster
}

// attachUDPRoutes attaches UDPRoutes like TCPRoutes: no hostnames, every
// rule's backends form one weighted set.
func (t *translator) attachUDPRoutes() {
	for _, r := range t.snap.UDPRoutes {
		if r == nil {
			continue
		}
		rules := make([][]gwv1.BackendRef, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules[i] = r.Spec.Rules[i].BackendRefs
		}
		t.attachStreamRoute(routeInfo{kind: "UDPRoute", obj: r, parentRefs: r.Spec.ParentRefs}, rules,
			func(l *listenerCtx, backends []ir.WeightedCluster) {
				l.udp = append(l.udp, &udpAttachment{route: r, backends: backends})
			})
	}
}

// udpChain forwards to the backends of the oldest UDPRoute on the socket's
// (single) UDP listener: like TCP, UDP has nothing to tell routes apart.
func (t *translator) udpChain(listeners []*listenerCtx) *ir.UDPChain {
	var best *udpAttachment
	for _, l := range listeners {
		for _, a := range l.udp {
			if best == nil || olderFirst(a.route, best.route) {
				best = a
			}
		}
	}
	if best == nil || !anyWeight(best.backends) {
		return nil
	}
	return &ir.UDPChain{Backends: append([]ir.WeightedCluster(nil), best.backends...)}
}
