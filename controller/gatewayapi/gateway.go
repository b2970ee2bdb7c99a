package gatewayapi

import (
	"fmt"
	"net"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// defaultAddress is where a Gateway without an IPAddress in spec.addresses binds.
const defaultAddress = "0.0.0.0"

// gatewayCtx is one of our Gateways during translation.
type gatewayCtx struct {
	obj     *gwv1.Gateway
	key     string // "<ns>/<name>"
	address string // bind address of every listener
	// addressProblem rejects the whole Gateway (UnsupportedAddress, or
	// InvalidParameters for its annotations and infrastructure parametersRef).
	addressProblem problem
	// listeners are the Gateway's own listeners (spec order), then those of
	// its attached ListenerSets (precedence order, listenerset.go).
	listeners []*listenerCtx
	// sets are the ListenerSets attached to the Gateway.
	sets []*listenerSetCtx
	// backendClientCert is the IR secret of spec.tls.backend
	// clientCertificateRef ("" if unset or invalid; see backendClientProblem).
	backendClientCert    string
	backendClientProblem problem
	// proxyProtocol: the Gateway's load balancer sends PROXY protocol
	// headers (proxyprotocol.go).
	proxyProtocol bool
	// maxRequestBody bounds request bodies on its HTTP(S) listeners; 0:
	// unlimited (bodylimit.go).
	maxRequestBody uint32
}

// olderFirst orders objects by creationTimestamp, then namespace/name: the
// Gateway API tie-breaker for conflicts and precedence.
func olderFirst(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

// translateGateways validates every Gateway of our classes and its listeners.
func (t *translator) translateGateways() {
	for _, gw := range t.snap.Gateways {
		if gw == nil || !t.classes[string(gw.Spec.GatewayClassName)] {
			continue
		}
		g := &gatewayCtx{obj: gw, key: key(gw.Namespace, gw.Name)}
		g.address, g.addressProblem = gatewayAddress(gw)
		g.address = t.bindAddress(g.address)
		if g.addressProblem.ok() {
			g.proxyProtocol, g.addressProblem = gatewayProxyProtocol(gw)
		}
		if g.addressProblem.ok() {
			g.maxRequestBody, g.addressProblem = gatewayMaxRequestBody(gw)
		}
		if g.addressProblem.ok() {
			g.addressProblem = t.gatewayParameters(gw)
		}
		t.resolveBackendClientCert(g)
		for i := range gw.Spec.Listeners {
			l := t.newListener(g, nil, i, &gw.Spec.Listeners[i])
			t.resolveACME(l)
			g.listeners = append(g.listeners, l)
		}
		markGatewayConflicts(g.listeners)
		t.gateways = append(t.gateways, g)
		t.byKey[g.key] = g
	}
	sort.SliceStable(t.gateways, func(i, j int) bool { return olderFirst(t.gateways[i].obj, t.gateways[j].obj) })
}

// gatewayAddress picks the bind address: the first entry of spec.addresses
// (the type defaults to IPAddress), else 0.0.0.0. Every entry must be an IP
// address: Hostname and implementation-specific types can neither be bound
// by the data plane nor asked of a load balancer, and the spec has the
// whole Gateway refused (Accepted=False UnsupportedAddress) rather than an
// address silently ignored, wherever in the list it is.
func gatewayAddress(gw *gwv1.Gateway) (string, problem) {
	bind := defaultAddress
	for i, a := range gw.Spec.Addresses {
		if a.Type != nil && *a.Type != gwv1.IPAddressType {
			return defaultAddress, problem{string(gwv1.GatewayReasonUnsupportedAddress),
				fmt.Sprintf("spec.addresses[%d].type: address type %q is not supported; only IPAddress is", i, *a.Type)}
		}
		if a.Value == "" {
			// GatewayAddressEmpty: an IPAddress entry without a value asks
			// for an address the load balancer picks; nothing to bind.
			continue
		}
		ip := net.ParseIP(a.Value)
		if ip == nil {
			return defaultAddress, problem{string(gwv1.GatewayReasonUnsupportedAddress),
				fmt.Sprintf("spec.addresses[%d].value: %q is not an IP address", i, a.Value)}
		}
		if bind == defaultAddress {
			bind = ip.String()
		}
	}
	return bind, problem{}
}

// gatewayStatuses writes the Gateway and listener statuses once routes are
// attached (attachedRoutes) and sockets are assigned (conflicts across Gateways).
func (t *translator) gatewayStatuses() {
	for _, g := range t.gateways {
		gen := g.obj.Generation
		st := gwv1.GatewayStatus{}
		accepted, programmed := 0, 0
		own := g.own()
		for _, l := range own {
			ls := l.status()
			st.Listeners = append(st.Listeners, ls)
			if l.accepted.ok() && l.conflicted.ok() {
				accepted++
			}
			if l.programmed() {
				programmed++
			}
		}
		switch {
		case !g.addressProblem.ok():
			st.Conditions = append(st.Conditions,
				cond(gwv1.GatewayConditionAccepted, false, g.addressProblem.reason, g.addressProblem.message, gen),
				cond(gwv1.GatewayConditionProgrammed, false, gwv1.GatewayReasonInvalid, "Gateway is not accepted: "+g.addressProblem.message, gen))
		case accepted == 0:
			st.Conditions = append(st.Conditions,
				cond(gwv1.GatewayConditionAccepted, false, gwv1.GatewayReasonListenersNotValid, "no listener is valid: "+invalidListeners(own), gen))
		case accepted < len(own):
			// The spec requires ListenersNotValid whenever a listener is
			// invalid or conflicted; the valid ones are still served.
			st.Conditions = append(st.Conditions, cond(gwv1.GatewayConditionAccepted, true, gwv1.GatewayReasonListenersNotValid, invalidListeners(own), gen))
		default:
			st.Conditions = append(st.Conditions, cond(gwv1.GatewayConditionAccepted, true, gwv1.GatewayReasonAccepted, "Gateway is accepted", gen))
		}
		if g.addressProblem.ok() {
			if programmed > 0 {
				msg := "Gateway is programmed"
				if programmed < len(own) {
					msg = fmt.Sprintf("%d of %d listeners are programmed", programmed, len(own))
				}
				st.Conditions = append(st.Conditions, cond(gwv1.GatewayConditionProgrammed, true, gwv1.GatewayReasonProgrammed, msg, gen))
			} else {
				st.Conditions = append(st.Conditions, cond(gwv1.GatewayConditionProgrammed, false, gwv1.GatewayReasonInvalid, "no listener is programmed", gen))
			}
			// An explicitly requested IP is the address clients use; without
			// one, the Kubernetes source fills addresses from the load balancer.
			if len(g.obj.Spec.Addresses) > 0 && t.reportsSpecAddress() {
				ipType := gwv1.IPAddressType
				st.Addresses = []gwv1.GatewayStatusAddress{{Type: &ipType, Value: g.address}}
			}
		}
		st.Conditions = append(st.Conditions, gatewayTLSConditions(g)...)
		st.Conditions = append(st.Conditions, t.meshConditions(g)...)
		if g.allowsListenerSets() || len(g.sets) > 0 {
			n := int32(0)
			for _, s := range g.sets {
				if s.attached() {
					n++
				}
			}
			st.AttachedListenerSets = &n
		}
		t.statuses.Gateways = append(t.statuses.Gateways, GatewayStatus{Namespace: g.obj.Namespace, Name: g.obj.Name, Status: st})
	}
}

// invalidListeners names the invalid and conflicted listeners, for the
// ListenersNotValid message of a Gateway or a ListenerSet.
func invalidListeners(ls []*listenerCtx) string {
	var parts []string
	for _, l := range ls {
		switch {
		case !l.accepted.ok():
			parts = append(parts, fmt.Sprintf("listener %q is invalid (%s)", l.spec.Name, l.accepted.reason))
		case !l.conflicted.ok():
			parts = append(parts, fmt.Sprintf("listener %q is conflicted (%s)", l.spec.Name, l.conflicted.reason))
		}
	}
	return strings.Join(parts, "; ")
}

// own are the listeners of the Gateway's spec, without its ListenerSets'.
func (g *gatewayCtx) own() []*listenerCtx {
	return g.listeners[:len(g.obj.Spec.Listeners)]
}

// allowsListenerSets: spec.allowedListeners lets some ListenerSets attach.
func (g *gatewayCtx) allowsListenerSets() bool {
	al := g.obj.Spec.AllowedListeners
	return al != nil && al.Namespaces != nil && al.Namespaces.From != nil && *al.Namespaces.From != gwv1.NamespacesFromNone
}
