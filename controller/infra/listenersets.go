package infra

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A ListenerSet's listeners are served by its parent Gateway's data plane,
// behind the Gateway's Service: their ports must be on both. Which
// ListenerSets attach is decided here the way translation decides it
// (parentRef, spec.allowedListeners); translation alone reports conflicts,
// and a port of a conflicted listener that is opened on the Service only
// refuses connections (the data plane does not listen on it).

var listenerSetGK = schema.GroupKind{Group: gwv1.GroupName, Kind: "ListenerSet"}

// listenerSetsOf lists the ListenerSets that name gw as their parent and
// that its spec.allowedListeners lets in. Without the ListenerSet CRD
// there are none.
func (p *Provisioner) listenerSetsOf(ctx context.Context, gw *gwv1.Gateway) ([]gwv1.ListenerSet, error) {
	al := gw.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil || *al.Namespaces.From == gwv1.NamespacesFromNone {
		return nil, nil
	}
	var list gwv1.ListenerSetList
	if err := p.reader.List(ctx, &list); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing ListenerSets: %w", err)
	}
	var out []gwv1.ListenerSet
	for _, ls := range list.Items {
		if !namesParent(&ls, gw) {
			continue
		}
		ok, err := p.listenerSetAllowed(ctx, gw, ls.Namespace)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ls)
		}
	}
	return out, nil
}

// namesParent: ls's parentRef is gw.
func namesParent(ls *gwv1.ListenerSet, gw *gwv1.Gateway) bool {
	ref := ls.Spec.ParentRef
	if (ref.Group != nil && string(*ref.Group) != gwv1.GroupName) || (ref.Kind != nil && string(*ref.Kind) != "Gateway") {
		return false
	}
	ns := ls.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	return ns == gw.Namespace && string(ref.Name) == gw.Name
}

// listenerSetAllowed applies spec.allowedListeners.namespaces to the
// namespace ns of a ListenerSet.
func (p *Provisioner) listenerSetAllowed(ctx context.Context, gw *gwv1.Gateway, ns string) (bool, error) {
	from := gw.Spec.AllowedListeners.Namespaces
	switch *from.From {
	case gwv1.NamespacesFromAll:
		return true, nil
	case gwv1.NamespacesFromSame:
		return ns == gw.Namespace, nil
	case gwv1.NamespacesFromSelector:
		if from.Selector == nil {
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(from.Selector)
		if err != nil {
			return false, nil // translation reports the Gateway's invalid selector
		}
		var n corev1.Namespace
		if err := p.reader.Get(ctx, types.NamespacedName{Name: ns}, &n); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		set := labels.Set{corev1.LabelMetadataName: ns}
		for k, v := range n.Labels {
			set[k] = v
		}
		return sel.Matches(set), nil
	}
	return false, nil
}

// parentGateway maps a ListenerSet event to its parent Gateway.
func parentGateway(_ context.Context, obj client.Object) []reconcile.Request {
	ls, ok := obj.(*gwv1.ListenerSet)
	if !ok {
		return nil
	}
	ref := ls.Spec.ParentRef
	if (ref.Group != nil && string(*ref.Group) != gwv1.GroupName) || (ref.Kind != nil && string(*ref.Kind) != "Gateway") {
		return nil
	}
	ns := ls.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: string(ref.Name)}}}
}

// servesListenerSets: the API server knows the ListenerSet kind, so it can
// be watched (a watch of an unknown kind would fail the manager's start).
func servesListenerSets(m meta.RESTMapper) bool {
	_, err := m.RESTMapping(listenerSetGK, gwv1.GroupVersion.Version)
	return err == nil
}
