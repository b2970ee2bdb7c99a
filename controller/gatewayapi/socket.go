package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// socket is one address:port and the servable listeners (of possibly several
// Gateways) merged onto it, in precedence order: oldest Gateway first, then
// listener order.
type socket struct {
	name      string // "<address>:<port>" (IPv6: "[addr]:port")
	address   string
	port      uint32
	kind      socketKind
	listeners []*listenerCtx
}

// assignSockets merges listeners of all Gateways by address:port. A listener
// incompatible with what older Gateways already put on the socket is
// Conflicted and not served: a different socket kind (ProtocolConflict), or
// the same SNI hostname on a TLS socket / a second TCP listener
// (HostnameConflict). TLS listeners of both TLS modes merge (tlsmixed.go).
// Plain HTTP listeners always merge; their routes share one route table,
// virtual hosts merged by domain.
//
// Without isolation, a listener whose socket would take the port of an older
// socket on another address (0.0.0.0:80 beside 127.0.0.1:80) is refused
// with PortUnavailable: the data plane could not bind both, and would
// refuse the whole configuration. So is a listener on a socket the data
// plane already failed to bind (bindfailure.go).
func (t *translator) assignSockets() {
	t.sockets = map[string]*socket{}
	var made []*socket // in the order made: the older socket keeps the port
	for _, g := range t.gateways {
		for _, l := range g.listeners {
			if !l.servable() && !l.acmeBinds() {
				continue
			}
			name := t.socketName(g, l.port, l.kind)
			s := t.sockets[name]
			if p := t.bindFailureProblem(g.address, l); !p.ok() {
				l.accepted = p
				continue
			}
			if s == nil {
				if p := t.overlapProblem(made, g.address, l); !p.ok() {
					l.accepted = p
					continue
				}
				s = &socket{name: name, address: g.address, port: l.port, kind: l.kind}
				t.sockets[name] = s
				made = append(made, s)
			}
			if p := s.conflict(l); !p.ok() {
				l.conflicted = p
				continue
			}
			s.listeners = append(s.listeners, l)
			l.inSocket = true
		}
	}
}

// conflict is why l cannot join the socket. ProtocolConflict wins over
// HostnameConflict, as within one Gateway (markGatewayConflicts).
func (s *socket) conflict(l *listenerCtx) (p problem) {
	for _, o := range s.listeners {
		other := fmt.Sprintf("listener %q of Gateway %s", o.spec.Name, o.gw.key)
		var q problem
		switch {
		case o.kind != l.kind:
			q = problem{string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf("%s: %s already serves %s on %s", l.field, other, o.spec.Protocol, s.name)}
		case l.kind == socketTCP || l.kind == socketUDP:
			q = problem{string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("%s: %s already serves %s on %s", l.field, other, o.spec.Protocol, s.name)}
		case l.kind == socketTLS && o.hostname == l.hostname:
			q = problem{string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("%s: %s already serves hostname %q on %s", l.field, other, pattern(l.hostname), s.name)}
		default:
			continue
		}
		if p.ok() || (q.reason == string(gwv1.ListenerReasonProtocolConflict) && p.reason != q.reason) {
			p = q
		}
	}
	return p
}

// overlapProblem: a new socket for l on address would take the port of one
// of made on another address. Sockets of isolated Gateways are in Pods of
// their own, and UDP ports are not TCP ports.
func (t *translator) overlapProblem(made []*socket, address string, l *listenerCtx) problem {
	if t.snap.IsolateGateways {
		return problem{}
	}
	for _, o := range made {
		if o.port != l.port || (o.kind == socketUDP) != (l.kind == socketUDP) || o.address == address || !bindsOverlap(o.address, address) {
			continue
		}
		first := o.listeners[0]
		return problem{string(gwv1.ListenerReasonPortUnavailable),
			fmt.Sprintf("%s.port: %d on %s cannot be bound: listener %q of Gateway %s already listens on %s, which takes that port too; use another port, or the same address", l.field, l.port, address, first.spec.Name, first.gw.key, o.name)}
	}
	return problem{}
}
