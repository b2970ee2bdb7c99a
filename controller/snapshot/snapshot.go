// Package snapshot holds the Snapshot: every input object the translation needs,
// deep-copied and sorted. Kubernetes mode and file mode build the same type, so
// everything after it (translation, IR, xDS) cannot tell the two apart.
package snapshot

import (
	"slices"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// DefaultControllerName is the GatewayClass spec.controllerName edgeway owns.
const DefaultControllerName = "edgeway.dev/gateway-controller"

// Snapshot is the complete, immutable input of one translation. Objects are
// sorted by namespace then name (see Sort) so that translation is deterministic.
type Snapshot struct {
	// ControllerName selects the GatewayClasses this instance serves.
	ControllerName string
	// IsolateGateways is Kubernetes mode: every Gateway has its own data
	// plane (xDS node "<ns>/<name>") behind its own address, so listeners of
	// different Gateways never share a socket and never conflict; sockets
	// are named "<ns>/<name>/<address>:<port>" and bind 0.0.0.0 inside the
	// Gateway's Pods (spec.addresses are honoured by the infrastructure, not
	// bound). Split the IR with ir.SplitByGateway. False (file mode): the
	// Gateways of one process share sockets by address and port.
	IsolateGateways bool
	// ReservedPorts are the TCP ports the data plane itself listens on
	// beside the Gateways' listeners (its admin server; in standalone, the
	// controller's servers too). A listener on one could not bind, and the
	// data plane would refuse its whole configuration, so translation
	// refuses that listener alone (PortUnavailable). Set by the source from
	// how the data plane is run; the files and the API hold none.
	ReservedPorts []ReservedPort
	// BindFailures are listener sockets the data plane tried to bind and
	// could not, for a cause outside the configuration: a port another
	// process holds, an address not on the host, a privileged port without
	// the capability. Translation refuses the listeners on them alone
	// (PortUnavailable) so that the rest of the configuration is served.
	// Standalone sets them from the data plane's refusal and tries them
	// again (cmd/edgeway/bindfailures.go); the files and the API hold none.
	BindFailures []BindFailure

	GatewayClasses     []*gwv1.GatewayClass
	Gateways           []*gwv1.Gateway
	HTTPRoutes         []*gwv1.HTTPRoute
	GRPCRoutes         []*gwv1.GRPCRoute
	TLSRoutes          []*gwv1.TLSRoute
	TCPRoutes          []*gwv1.TCPRoute
	UDPRoutes          []*gwv1.UDPRoute
	ReferenceGrants    []*gwv1.ReferenceGrant
	BackendTLSPolicies []*gwv1.BackendTLSPolicy
	ListenerSets       []*gwv1.ListenerSet

	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Secrets        []*corev1.Secret
	ConfigMaps     []*corev1.ConfigMap
	Namespaces     []*corev1.Namespace

	ServiceEntries []*istionet.ServiceEntry

	// EdgewayConfigs are the targets of GatewayClass parametersRef.
	EdgewayConfigs []*v1alpha1.EdgewayConfig
	// ACMEIssuers are the issuers Gateway listeners name in tls.options
	// (gateway.edgeway.dev/acme-issuer); see acme.go.
	ACMEIssuers []*v1alpha1.ACMEIssuer
}

// ReservedPort is a TCP port taken on the data plane's host or Pod.
type ReservedPort struct {
	// Address is the IP it is bound to; "" or an unspecified address
	// (0.0.0.0, ::) takes the port on every address.
	Address string
	Port    uint32
	// Owner says what listens there, for the listener's condition: "the
	// data plane's admin server (/healthz, /ready, /metrics)".
	Owner string
}

// BindFailure is one socket the data plane could not bind.
type BindFailure struct {
	// Address and Port are the socket's, as translation made it: the
	// Gateway's bind address (an IP; 0.0.0.0 when it names none).
	Address string
	Port    uint32
	UDP     bool
	// Error is the bind's error, for the listener's condition.
	Error string
}

// Sort orders every list by namespace, then name. Translation relies on it.
func (s *Snapshot) Sort() {
	sortObjects(s.GatewayClasses)
	sortObjects(s.Gateways)
	sortObjects(s.HTTPRoutes)
	sortObjects(s.GRPCRoutes)
	sortObjects(s.TLSRoutes)
	sortObjects(s.TCPRoutes)
	sortObjects(s.UDPRoutes)
	sortObjects(s.ReferenceGrants)
	sortObjects(s.BackendTLSPolicies)
	sortObjects(s.ListenerSets)
	sortObjects(s.Services)
	sortObjects(s.EndpointSlices)
	sortObjects(s.Secrets)
	sortObjects(s.ConfigMaps)
	sortObjects(s.Namespaces)
	sortObjects(s.ServiceEntries)
	sortObjects(s.EdgewayConfigs)
	sortObjects(s.ACMEIssuers)
}

// sortObjects sorts by namespace, then name, keeping the order of equals.
// Objects of one kind from the API server have unique namespaces and
// names, and without equals an unstable sort gives the stable order:
// pattern-defeating quicksort makes about a fifth of the stable sort's
// comparisons at 5000 routes. Only when it finds equals (files, hand-built
// Snapshots) does it sort the original order again, stably.
// slices rather than sort.SliceStable: the latter swaps through reflection.
func sortObjects[T metav1.Object](objs []T) {
	order := compareObjects[T]
	if slices.IsSortedFunc(objs, order) {
		return // a stable sort would leave it as it is
	}
	orig := slices.Clone(objs)
	slices.SortFunc(objs, order)
	for i := 1; i < len(objs); i++ {
		if order(objs[i-1], objs[i]) == 0 {
			copy(objs, orig)
			slices.SortStableFunc(objs, order)
			return
		}
	}
}
