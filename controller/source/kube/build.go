package kube

import (
	"fmt"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// snapshotCopies are the copy memos of every kind a Snapshot holds.
type snapshotCopies struct {
	gatewayClasses     copyMemo[gwv1.GatewayClass]
	gateways           copyMemo[gwv1.Gateway]
	httpRoutes         copyMemo[gwv1.HTTPRoute]
	grpcRoutes         copyMemo[gwv1.GRPCRoute]
	tlsRoutes          copyMemo[gwv1.TLSRoute]
	tcpRoutes          copyMemo[gwv1.TCPRoute]
	udpRoutes          copyMemo[gwv1.UDPRoute]
	referenceGrants    copyMemo[gwv1.ReferenceGrant]
	backendTLSPolicies copyMemo[gwv1.BackendTLSPolicy]
	listenerSets       copyMemo[gwv1.ListenerSet]
	serviceEntries     copyMemo[istionet.ServiceEntry]
	edgewayConfigs     copyMemo[v1alpha1.EdgewayConfig]
	acmeIssuers        copyMemo[v1alpha1.ACMEIssuer]
	namespaces         copyMemo[corev1.Namespace]
	services           copyMemo[corev1.Service]
	endpointSlices     copyMemo[discoveryv1.EndpointSlice]
	secrets            copyMemo[corev1.Secret]
	configMaps         copyMemo[corev1.ConfigMap]
	// sorter sorts each build's Snapshot from the last one's order: mostly
	// the same objects (snapshot.Sorter).
	sorter snapshot.Sorter
}

// buildMemo is what a build does with each memo.
type buildMemo interface {
	begin()
	end()
}

// each is every memo, for begin and end.
func (c *snapshotCopies) each() []buildMemo {
	return []buildMemo{
		&c.gatewayClasses, &c.gateways, &c.httpRoutes, &c.grpcRoutes, &c.tlsRoutes, &c.tcpRoutes, &c.udpRoutes,
		&c.referenceGrants, &c.backendTLSPolicies, &c.listenerSets, &c.serviceEntries, &c.edgewayConfigs,
		&c.acmeIssuers, &c.namespaces, &c.services, &c.endpointSlices, &c.secrets, &c.configMaps,
	}
}

// deepCopyable is a pointer to an API type with a generated DeepCopy.
type deepCopyable[T any] interface {
	*T
	metav1.Object
	DeepCopy() *T
}

// deepCopyOf is copyOf's deepCopy for an API type.
func deepCopyOf[T any, PT deepCopyable[T]](o metav1.Object) *T { return o.(PT).DeepCopy() }

// listKind lists one kind from its informer's store (the cache's own
// objects, without a copy) into the memo's copies, or nothing when the
// kind's CRD is not installed.
func listKind[T any, PT deepCopyable[T]](s *Source, kind string, memo *copyMemo[T]) ([]*T, error) {
	store := s.kinds.store(kind)
	if store == nil {
		return nil, nil
	}
	cached := store.List()
	out := make([]*T, 0, len(cached))
	for _, o := range cached {
		obj, ok := o.(PT)
		if !ok {
			return nil, fmt.Errorf("listing %s: the cache holds a %T; this is a bug in the source's watches", kind, o)
		}
		out = append(out, memo.copyOf(obj, deepCopyOf[T, PT]))
	}
	return out, nil
}

// build lists the cache into a Snapshot: every Gateway API object,
// ServiceEntry, EdgewayConfig, ACMEIssuer and Namespace, and of Services (with their
// EndpointSlices), Secrets and ConfigMaps only the referenced ones. The
// references are published to the event filters before the referenced
// objects are read, so an object created meanwhile is either read here or
// marks the world dirty again. Objects unchanged since the last build are
// that build's copies (copies.go), and the lists are sorted from that
// build's order.
func (s *Source) build() (*snapshot.Snapshot, error) {
	c := &s.copies
	memos := c.each()
	for _, m := range memos {
		m.begin()
	}
	snap := &snapshot.Snapshot{ControllerName: s.opts.ControllerName, IsolateGateways: true, ReservedPorts: s.reservedPorts()}
	lists := []func() error{
		func() (e error) { snap.GatewayClasses, e = listKind(s, "GatewayClass", &c.gatewayClasses); return },
		func() (e error) { snap.Gateways, e = listKind(s, "Gateway", &c.gateways); return },
		func() (e error) { snap.HTTPRoutes, e = listKind(s, "HTTPRoute", &c.httpRoutes); return },
		func() (e error) { snap.GRPCRoutes, e = listKind(s, "GRPCRoute", &c.grpcRoutes); return },
		func() (e error) { snap.TLSRoutes, e = listKind(s, "TLSRoute", &c.tlsRoutes); return },
		func() (e error) { snap.TCPRoutes, e = listKind(s, "TCPRoute", &c.tcpRoutes); return },
		func() (e error) { snap.UDPRoutes, e = listKind(s, "UDPRoute", &c.udpRoutes); return },
		func() (e error) { snap.ReferenceGrants, e = listKind(s, "ReferenceGrant", &c.referenceGrants); return },
		func() (e error) {
			snap.BackendTLSPolicies, e = listKind(s, "BackendTLSPolicy", &c.backendTLSPolicies)
			return
		},
		func() (e error) { snap.ListenerSets, e = listKind(s, "ListenerSet", &c.listenerSets); return },
		func() (e error) { snap.ServiceEntries, e = listKind(s, "ServiceEntry", &c.serviceEntries); return },
		func() (e error) { snap.EdgewayConfigs, e = listKind(s, "EdgewayConfig", &c.edgewayConfigs); return },
		func() (e error) { snap.ACMEIssuers, e = listKind(s, "ACMEIssuer", &c.acmeIssuers); return },
		func() error { return s.listNamespaces(snap) },
	}
	for _, l := range lists {
		if err := l(); err != nil {
			return nil, err
		}
	}

	refs := collectReferences(snap)
	s.setReferences(refs)
	if err := s.readReferenced(snap, refs); err != nil {
		return nil, err
	}
	// Only after a whole build: a failed one keeps every copy for the next.
	for _, m := range memos {
		m.end()
	}
	c.sorter.Sort(snap)
	return snap, nil
}
