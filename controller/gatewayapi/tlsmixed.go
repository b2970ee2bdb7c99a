package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Mixed TLS modes: a protocol TLS listener in Passthrough mode and one in
// Terminate mode on the same port. Serving both is the extended feature
// TLSRouteModeMixed, which edgeway does not claim (features.go). GEP-2643
// then requires both listeners to be Conflicted with ProtocolConflict, and
// the upstream test TLSRouteListenerMixedTerminationNotSupported checks them
// for Accepted=False ProtocolConflict, no supportedKinds and no attached
// routes: like a TLS mode that is not supported at all, the listener's
// configuration supports no route kind, so no TLSRoute attaches to it
// (NotAllowedByListeners) and no request to it is served.
//
// HTTPS listeners are not part of this rule: an HTTPS listener next to a TLS
// listener of either mode on one port stays served (SNI picks the chain).

// mixesTLSModes: a and b are TLS listeners with different TLS modes.
func mixesTLSModes(a, b *listenerCtx) bool {
	return (a.passthrough && b.tlsTerminate) || (a.tlsTerminate && b.passthrough)
}

// tlsModeConflict is the ProtocolConflict of l with other (where: "port
// 8443" or the socket name), saying what to do about it.
func tlsModeConflict(l, other *listenerCtx, otherName, where string) problem {
	return problem{string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf(
		"%s.tls.mode: %s listener and %s with TLS mode %s share %s; edgeway does not serve Passthrough and Terminate TLS listeners on one port (TLSRouteModeMixed): move one of them to another port",
		l.field, tlsModeName(l), otherName, tlsModeName(other), where)}
}

func tlsModeName(l *listenerCtx) gwv1.TLSModeType {
	if l.passthrough {
		return gwv1.TLSModePassthrough
	}
	return gwv1.TLSModeTerminate
}

// conflictMixedTLSModes marks l Conflicted by a mixed TLS mode conflict: its
// configuration supports no route kind (see above).
func (l *listenerCtx) conflictMixedTLSModes(p problem) {
	l.conflicted = p
	l.supportedKinds = nil
}
