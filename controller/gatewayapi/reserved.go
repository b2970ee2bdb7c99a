package gatewayapi

import (
	"fmt"
	"net"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// reservedPortProblem refuses a listener on a port the data plane itself
// listens on (Snapshot.ReservedPorts). Without it the data plane could not
// bind the listener and would refuse the whole configuration of its
// Gateways, every other listener's changes with it; in Kubernetes the
// Service would also have sent the load balancer's traffic for that port
// to the admin server. UDP listeners take UDP ports, which no reserved
// port is.
func (t *translator) reservedPortProblem(l *listenerCtx) problem {
	if l.kind == socketUDP {
		return problem{}
	}
	for _, r := range t.snap.ReservedPorts {
		if r.Port == l.port && bindsOverlap(r.Address, l.gw.address) {
			return problem{string(gwv1.ListenerReasonPortUnavailable),
				fmt.Sprintf("%s.port: %d is taken by %s%s; use another port", l.field, l.port, r.Owner, reservedWhere(r.Address))}
		}
	}
	return problem{}
}

// reservedWhere names the address a reserved port is bound to, unless it
// is every address (the owner says where: "in every Gateway Pod").
func reservedWhere(address string) string {
	if ip := net.ParseIP(address); address == "" || (ip != nil && ip.IsUnspecified()) {
		return ""
	}
	return " on " + address
}

// bindsOverlap: TCP sockets bound to a and b on one port conflict (Linux,
// no SO_REUSEPORT): the same IP, or an unspecified address on the other's
// family; "::" is dual-stack, as Go binds it, so it overlaps both
// families. "" is unspecified.
func bindsOverlap(a, b string) bool {
	return coversBind(a, b) || coversBind(b, a)
}

// coversBind: a socket bound to a takes the port for b.
func coversBind(a, b string) bool {
	if a == "" || a == b {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia == nil || ib == nil {
		return false
	}
	if ia.Equal(ib) {
		return true
	}
	if !ia.IsUnspecified() {
		return false
	}
	return ia.To4() == nil || ib.To4() != nil
}
