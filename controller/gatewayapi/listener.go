package gatewayapi

import (
	"fmt"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// socketKind is what a listener needs from its socket. Listeners of different
// kinds cannot share an address:port: HTTP is plaintext, HTTPS and TLS
// passthrough are both dispatched by SNI (so they can share), TCP takes the
// whole socket.
type socketKind string

const (
	socketHTTP socketKind = "http"
	socketTLS  socketKind = "tls"
	socketTCP  socketKind = "tcp"
	// socketUDP is a UDP socket: it never conflicts with the TCP-based kinds
	// on the same port number.
	socketUDP socketKind = "udp"
)

// listenerCtx is one Gateway listener during translation.
type listenerCtx struct {
	gw *gatewayCtx
	// set is the ListenerSet that declares the listener; nil for the
	// Gateway's own listeners (listenerset.go).
	set      *listenerSetCtx
	index    int
	spec     *gwv1.Listener
	field    string // "spec.listeners[i]"
	hostname string // lower-case; "" matches any host
	port     uint32
	kind     socketKind
	// passthrough: a TLS listener in Passthrough mode (TLSRoute); otherwise a
	// socketTLS listener terminates HTTPS.
	passthrough bool
	// tlsTerminate: a TLS listener in Terminate mode (TLSRoute over the
	// decrypted stream).
	tlsTerminate bool

	accepted     problem // Accepted=False: unsupported protocol/value
	certProblem  problem // ResolvedRefs=False on certificateRefs: not programmed
	kindsProblem problem // ResolvedRefs=False InvalidRouteKinds: still serves the supported kinds
	caProblem    problem // ResolvedRefs=False on frontend caCertificateRefs: served with the valid ones
	conflicted   problem // Conflicted=True: not programmed

	// acme: tls.options name an ACMEIssuer (acme.go); nil otherwise.
	acme *acmeListener
	// inSocket: assignSockets put the listener on a socket.
	inSocket bool

	supportedKinds []gwv1.RouteGroupKind
	certificates   []string // IR secret names, certificateRefs order
	// clientValidation is spec.tls.frontend for this listener's port.
	clientValidation *ir.ClientValidation

	attached map[string]bool // route keys counted in attachedRoutes
	// attachedCounted are HTTPRoutes counted in attachedRoutes without
	// their keys: attachments the Translator reused when no two routes
	// share a name and nothing else put their keys in attached (cross
	// serving's attachment of every route), so none is counted twice
	// (memo_attach.go).
	attachedCounted int
	http            []*httpAttachment
	tls             []*tlsAttachment
	tcp             []*tcpAttachment
	udp             []*udpAttachment
}

// protocolKinds are the route kinds each supported protocol serves.
var protocolKinds = map[gwv1.ProtocolType][]gwv1.Kind{
	gwv1.HTTPProtocolType:  {"HTTPRoute", "GRPCRoute"},
	gwv1.HTTPSProtocolType: {"HTTPRoute", "GRPCRoute"},
	gwv1.TLSProtocolType:   {"TLSRoute"},
	gwv1.TCPProtocolType:   {"TCPRoute"},
	gwv1.UDPProtocolType:   {"UDPRoute"},
}

// newListener validates listener i of g's spec, or of set's spec when set
// is not nil (spec is then the ListenerEntry as a Listener).
func (t *translator) newListener(g *gatewayCtx, set *listenerSetCtx, i int, spec *gwv1.Listener) *listenerCtx {
	l := &listenerCtx{
		gw:       g,
		set:      set,
		index:    i,
		spec:     spec,
		field:    fmt.Sprintf("spec.listeners[%d]", i),
		attached: map[string]bool{},
	}
	if spec.Hostname != nil {
		l.hostname = strings.ToLower(string(*spec.Hostname))
		if why := unservableHostname(l.hostname); why != "" {
			l.accepted = problem{string(gwv1.ListenerReasonUnsupportedValue), l.field + ".hostname: " + why}
			return l
		}
	}
	if spec.Port < 1 || spec.Port > 65535 {
		l.accepted = problem{string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("%s.port: %d is not a valid port", l.field, spec.Port)}
		return l
	}
	l.port = uint32(spec.Port)

	mode := gwv1.TLSModeTerminate // the API default
	if spec.TLS != nil && spec.TLS.Mode != nil && *spec.TLS.Mode != "" {
		mode = *spec.TLS.Mode
	}
	switch spec.Protocol {
	case gwv1.HTTPProtocolType:
		l.kind = socketHTTP
	case gwv1.HTTPSProtocolType:
		l.kind = socketTLS
		if mode != gwv1.TLSModeTerminate {
			l.accepted = problem{string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("%s.tls.mode: HTTPS listeners must use Terminate, not %q", l.field, mode)}
		} else {
			t.resolveCertificates(l)
			t.resolveFrontendTLS(l)
		}
	case gwv1.TLSProtocolType:
		l.kind = socketTLS
		if mode == gwv1.TLSModePassthrough {
			l.passthrough = true
		} else {
			l.tlsTerminate = true
			t.resolveCertificates(l)
		}
	case gwv1.TCPProtocolType:
		l.kind = socketTCP
		// TCP listeners have no hostname (CEL forbids it); ignore a stray one.
		l.hostname = ""
	case gwv1.UDPProtocolType:
		l.kind = socketUDP
		l.hostname = ""
	default:
		l.accepted = problem{string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("%s.protocol: protocol %q is not supported (supported: HTTP, HTTPS, TLS, TCP, UDP)", l.field, spec.Protocol)}
		return l
	}
	if p := t.reservedPortProblem(l); !p.ok() && l.accepted.ok() {
		l.accepted = p
	}
	l.supportedKinds, l.kindsProblem = listenerKinds(l.field, spec)
	return l
}

// listenerKinds intersects allowedRoutes.kinds with what the protocol serves.
// An empty kinds list means every kind the protocol serves.
func listenerKinds(field string, spec *gwv1.Listener) ([]gwv1.RouteGroupKind, problem) {
	supported := protocolKinds[spec.Protocol]
	group := gwv1.Group(gatewayGroup)
	if spec.AllowedRoutes == nil || len(spec.AllowedRoutes.Kinds) == 0 {
		var out []gwv1.RouteGroupKind
		for _, k := range supported {
			g := group
			out = append(out, gwv1.RouteGroupKind{Group: &g, Kind: k})
		}
		return out, problem{}
	}
	out := []gwv1.RouteGroupKind{}
	var p problem
	for j, rk := range spec.AllowedRoutes.Kinds {
		g := group
		if rk.Group != nil {
			g = *rk.Group
		}
		ok := false
		if g == group {
			for _, k := range supported {
				ok = ok || k == rk.Kind
			}
		}
		if !ok {
			if p.ok() {
				p = problem{string(gwv1.ListenerReasonInvalidRouteKinds), fmt.Sprintf("%s.allowedRoutes.kinds[%d]: %s/%s is not supported on a %s listener", field, j, g, rk.Kind, spec.Protocol)}
			}
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || (*o.Group == g && o.Kind == rk.Kind)
		}
		if !dup {
			out = append(out, gwv1.RouteGroupKind{Group: &g, Kind: rk.Kind})
		}
	}
	return out, p
}

// allowsKind reports whether a route kind may attach to this listener.
func (l *listenerCtx) allowsKind(kind string) bool {
	for _, k := range l.supportedKinds {
		if string(k.Kind) == kind {
			return true
		}
	}
	return false
}

// markGatewayConflicts marks indistinct listeners of one Gateway (or of one
// ListenerSet). The spec forbids picking a winner: every listener of an
// indistinct pair is Conflicted and not served (listenerConflict says when
// two listeners are indistinct). TLS listeners of both TLS modes share a
// port (TLSRouteModeMixed, tlsmixed.go).
func markGatewayConflicts(ls []*listenerCtx) {
	conflicts := make([]problem, len(ls))
	for i, a := range ls {
		if !a.accepted.ok() || !a.conflicted.ok() {
			continue
		}
		for j, b := range ls {
			if i == j || !b.accepted.ok() || !b.conflicted.ok() {
				continue
			}
			p := listenerConflict(a, b, fmt.Sprintf("listener %q", b.spec.Name))
			if p.ok() {
				continue
			}
			// ProtocolConflict wins over HostnameConflict: it is the more basic problem.
			if conflicts[i].ok() || (p.reason == string(gwv1.ListenerReasonProtocolConflict) && conflicts[i].reason != p.reason) {
				conflicts[i] = p
			}
		}
	}
	for i, p := range conflicts {
		if !p.ok() {
			ls[i].conflicted = p
		} // else: keeps a conflict it already had (listenerset.go)
	}
}

// listenerConflict is why a cannot be served on the port b also uses (other
// names b in the message); the zero problem if both can. Different socket
// kinds on one port are a ProtocolConflict; the same kind with the same
// hostname (TCP and UDP: any two) is a HostnameConflict, whatever the TLS
// modes.
func listenerConflict(a, b *listenerCtx, other string) problem {
	if a.port != b.port || (a.kind == socketUDP) != (b.kind == socketUDP) {
		return problem{}
	}
	switch {
	case a.kind != b.kind:
		return problem{string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf("%s: port %d is also used by %s with protocol %s", a.field, a.port, other, b.spec.Protocol)}
	case a.kind == socketTCP || a.kind == socketUDP || a.hostname == b.hostname:
		return problem{string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("%s: %s on port %d has the same hostname %q", a.field, other, a.port, a.hostname)}
	}
	return problem{}
}

// describe names the listener and the object that declares it, for
// messages about other objects.
func (l *listenerCtx) describe() string {
	if l.set != nil {
		return fmt.Sprintf("listener %q of ListenerSet %s", l.spec.Name, l.set.key)
	}
	return fmt.Sprintf("listener %q of Gateway %s", l.spec.Name, l.gw.key)
}

// owner is the object that declares the listener: the namespace its
// references default to and the referrer a ReferenceGrant must name.
func (l *listenerCtx) owner() objRef {
	if l.set != nil {
		return objRef{gatewayGroup, "ListenerSet", l.set.obj.Namespace, l.set.obj.Name}
	}
	return objRef{gatewayGroup, "Gateway", l.gw.obj.Namespace, l.gw.obj.Name}
}

// generation is the metadata.generation of the object that declares the
// listener, for its conditions' observedGeneration.
func (l *listenerCtx) generation() int64 {
	if l.set != nil {
		return l.set.obj.Generation
	}
	return l.gw.obj.Generation
}

// servable: the listener is valid on its own and may get a socket.
func (l *listenerCtx) servable() bool {
	return l.gw.addressProblem.ok() && l.accepted.ok() && l.conflicted.ok() && l.certProblem.ok() && len(l.supportedKinds) > 0
}

// programmed: servable and not pushed out by another Gateway on the same socket
// (assignSockets sets conflicted then).
func (l *listenerCtx) programmed() bool { return l.servable() }

// status renders the listener status. Conditions always come in the order
// Accepted, Programmed, ResolvedRefs, Conflicted.
func (l *listenerCtx) status() gwv1.ListenerStatus {
	gen := l.generation()
	st := gwv1.ListenerStatus{
		Name:           l.spec.Name,
		SupportedKinds: l.supportedKinds,
		AttachedRoutes: int32(len(l.attached) + l.attachedCounted),
	}
	if st.SupportedKinds == nil {
		st.SupportedKinds = []gwv1.RouteGroupKind{}
	}
	switch {
	case !l.accepted.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionAccepted, false, l.accepted.reason, l.accepted.message, gen))
	case !l.conflicted.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionAccepted, false, l.conflicted.reason, l.conflicted.message, gen))
	default:
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionAccepted, true, gwv1.ListenerReasonAccepted, "Listener is accepted", gen))
	}
	switch {
	case l.programmed():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionProgrammed, true, gwv1.ListenerReasonProgrammed, "Listener is programmed", gen))
	case l.accepted.ok() && !l.conflicted.ok():
		// The conflict is why: HostnameConflict or ProtocolConflict, as the
		// ListenerSet conformance tests expect of every conflicted listener.
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionProgrammed, false, gwv1.ListenerConditionReason(l.conflicted.reason), "Listener is not programmed: "+l.conflicted.message, gen))
	default:
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionProgrammed, false, gwv1.ListenerReasonInvalid, "Listener is not programmed: "+l.notProgrammedWhy(), gen))
	}
	switch {
	case !l.certProblem.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionResolvedRefs, false, l.certProblem.reason, l.certProblem.message, gen))
	case l.acme != nil && !l.acme.refProblem.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionResolvedRefs, false, l.acme.refProblem.reason, l.acme.refProblem.message, gen))
	case !l.caProblem.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionResolvedRefs, false, l.caProblem.reason, l.caProblem.message, gen))
	case !l.kindsProblem.ok():
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionResolvedRefs, false, l.kindsProblem.reason, l.kindsProblem.message, gen))
	default:
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionResolvedRefs, true, gwv1.ListenerReasonResolvedRefs, "All references are resolved", gen))
	}
	if l.conflicted.ok() {
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionConflicted, false, gwv1.ListenerReasonNoConflicts, "No conflicts", gen))
	} else {
		st.Conditions = append(st.Conditions, cond(gwv1.ListenerConditionConflicted, true, l.conflicted.reason, l.conflicted.message, gen))
	}
	// The API allows at most maxListenerConditions; ours come last.
	if a := l.acme; a != nil && len(st.Conditions) < maxListenerConditions {
		st.Conditions = append(st.Conditions, cond(snapshot.ACMECertificateReady, a.ready.ok, a.ready.reason, truncateMessage(a.ready.message), gen))
	}
	return st
}

// maxListenerConditions is the maximum of ListenerStatus.conditions.
const maxListenerConditions = 8

func (l *listenerCtx) notProgrammedWhy() string {
	switch {
	case !l.gw.addressProblem.ok():
		return l.gw.addressProblem.message
	case !l.accepted.ok():
		return l.accepted.message
	case !l.conflicted.ok():
		return l.conflicted.message
	case !l.certProblem.ok():
		return l.certProblem.message
	case !l.kindsProblem.ok():
		return l.kindsProblem.message
	}
	return l.field + ": no supported route kinds"
}
