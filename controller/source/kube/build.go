package kube

import (
	"context"
	"fmt"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// listAll lists one kind from the cache (which returns deep copies) into
// pointers, or nothing when the kind's CRD is not installed.
func listAll[L client.ObjectList, T any](ctx context.Context, s *Source, kind string, list L, items func(L) []*T) ([]*T, error) {
	if !s.kinds.isActive(kind) {
		return nil, nil
	}
	if err := s.reader.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing %s: %w", kind, err)
	}
	return items(list), nil
}

// ptrs points into a list's items.
func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// build lists the cache into a Snapshot: every Gateway API object,
// ServiceEntry, EdgewayConfig, ACMEIssuer and Namespace, and of Services (with their
// EndpointSlices), Secrets and ConfigMaps only the referenced ones. The
// references are published to the event filters before the referenced
// objects are read, so an object created meanwhile is either read here or
// marks the world dirty again.
func (s *Source) build(ctx context.Context) (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{ControllerName: s.opts.ControllerName, IsolateGateways: true}
	var err error
	lists := []func() error{
		func() (e error) {
			snap.GatewayClasses, e = listAll(ctx, s, "GatewayClass", &gwv1.GatewayClassList{}, func(l *gwv1.GatewayClassList) []*gwv1.GatewayClass { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.Gateways, e = listAll(ctx, s, "Gateway", &gwv1.GatewayList{}, func(l *gwv1.GatewayList) []*gwv1.Gateway { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.HTTPRoutes, e = listAll(ctx, s, "HTTPRoute", &gwv1.HTTPRouteList{}, func(l *gwv1.HTTPRouteList) []*gwv1.HTTPRoute { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.GRPCRoutes, e = listAll(ctx, s, "GRPCRoute", &gwv1.GRPCRouteList{}, func(l *gwv1.GRPCRouteList) []*gwv1.GRPCRoute { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.TLSRoutes, e = listAll(ctx, s, "TLSRoute", &gwv1.TLSRouteList{}, func(l *gwv1.TLSRouteList) []*gwv1.TLSRoute { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.TCPRoutes, e = listAll(ctx, s, "TCPRoute", &gwv1.TCPRouteList{}, func(l *gwv1.TCPRouteList) []*gwv1.TCPRoute { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.UDPRoutes, e = listAll(ctx, s, "UDPRoute", &gwv1.UDPRouteList{}, func(l *gwv1.UDPRouteList) []*gwv1.UDPRoute { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.ReferenceGrants, e = listAll(ctx, s, "ReferenceGrant", &gwv1.ReferenceGrantList{}, func(l *gwv1.ReferenceGrantList) []*gwv1.ReferenceGrant { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.BackendTLSPolicies, e = listAll(ctx, s, "BackendTLSPolicy", &gwv1.BackendTLSPolicyList{}, func(l *gwv1.BackendTLSPolicyList) []*gwv1.BackendTLSPolicy { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.ListenerSets, e = listAll(ctx, s, "ListenerSet", &gwv1.ListenerSetList{}, func(l *gwv1.ListenerSetList) []*gwv1.ListenerSet { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.ServiceEntries, e = listAll(ctx, s, "ServiceEntry", &istionet.ServiceEntryList{}, func(l *istionet.ServiceEntryList) []*istionet.ServiceEntry { return l.Items })
			return
		},
		func() (e error) {
			snap.EdgewayConfigs, e = listAll(ctx, s, "EdgewayConfig", &v1alpha1.EdgewayConfigList{}, func(l *v1alpha1.EdgewayConfigList) []*v1alpha1.EdgewayConfig { return ptrs(l.Items) })
			return
		},
		func() (e error) {
			snap.ACMEIssuers, e = listAll(ctx, s, "ACMEIssuer", &v1alpha1.ACMEIssuerList{}, func(l *v1alpha1.ACMEIssuerList) []*v1alpha1.ACMEIssuer { return ptrs(l.Items) })
			return
		},
		func() error { return s.listNamespaces(ctx, snap) },
	}
	for _, l := range lists {
		if err = l(); err != nil {
			return nil, err
		}
	}

	refs := collectReferences(snap)
	s.setReferences(refs)
	if err := s.readReferenced(ctx, snap, refs); err != nil {
		return nil, err
	}
	snap.Sort()
	return snap, nil
}
