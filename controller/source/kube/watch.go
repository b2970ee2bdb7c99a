package kube

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// watchedKind is one input kind: its prototype, whether it is a CRD that
// may not be installed (then it is left out of Snapshots, and added once its
// CRD appears), and which events matter.
type watchedKind struct {
	name     string
	obj      client.Object
	optional bool
	// relevant reports whether an event changes the translation's input
	// (old is nil on add and delete).
	relevant func(s *Source, old, obj client.Object) bool
}

// namespaceMeta is how Namespaces are watched: metadata only.
func namespaceMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

func watchedKinds() []watchedKind {
	spec := func(s *Source, old, obj client.Object) bool { return specChanged(old, obj) }
	crd := func(name string, obj client.Object) watchedKind {
		return watchedKind{name: name, obj: obj, optional: true, relevant: spec}
	}
	return []watchedKind{
		crd("GatewayClass", &gwv1.GatewayClass{}),
		{name: "Gateway", obj: &gwv1.Gateway{}, optional: true, relevant: func(s *Source, old, obj client.Object) bool {
			// status.addresses too: ACME reads them (where the CA reaches
			// the Gateway). The status writer sets them from the load
			// balancer once; its other status writes stay ignored.
			return specChanged(old, obj) || gatewayAddressesChanged(old, obj)
		}},
		crd("HTTPRoute", &gwv1.HTTPRoute{}),
		crd("GRPCRoute", &gwv1.GRPCRoute{}),
		crd("TLSRoute", &gwv1.TLSRoute{}),
		crd("TCPRoute", &gwv1.TCPRoute{}),
		crd("UDPRoute", &gwv1.UDPRoute{}),
		crd("ReferenceGrant", &gwv1.ReferenceGrant{}),
		crd("BackendTLSPolicy", &gwv1.BackendTLSPolicy{}),
		crd("ListenerSet", &gwv1.ListenerSet{}),
		crd("ServiceEntry", &istionet.ServiceEntry{}),
		crd("EdgewayConfig", &v1alpha1.EdgewayConfig{}),
		crd("ACMEIssuer", &v1alpha1.ACMEIssuer{}),
		{name: "Service", obj: &corev1.Service{}, relevant: func(s *Source, old, obj client.Object) bool {
			// Referenced backends, and the Services of Gateways' own
			// infrastructure (their load balancer address is Gateway status).
			return changed(old, obj) && (s.referenced(func(r references) map[string]bool { return r.services }, obj.GetNamespace(), obj.GetName()) || ownedByGateway(obj))
		}},
		{name: "EndpointSlice", obj: &discoveryv1.EndpointSlice{}, relevant: func(s *Source, old, obj client.Object) bool {
			return changed(old, obj) && s.referenced(func(r references) map[string]bool { return r.services }, obj.GetNamespace(), obj.GetLabels()[serviceNameLabel])
		}},
		{name: "Secret", obj: &corev1.Secret{}, relevant: func(s *Source, old, obj client.Object) bool {
			return changed(old, obj) && s.referenced(func(r references) map[string]bool { return r.secrets }, obj.GetNamespace(), obj.GetName())
		}},
		{name: "ConfigMap", obj: &corev1.ConfigMap{}, relevant: func(s *Source, old, obj client.Object) bool {
			return changed(old, obj) && s.referenced(func(r references) map[string]bool { return r.configMaps }, obj.GetNamespace(), obj.GetName())
		}},
		{name: "Namespace", obj: namespaceMeta(), relevant: func(s *Source, old, obj client.Object) bool {
			return old == nil || !maps.Equal(old.GetLabels(), obj.GetLabels())
		}},
	}
}

// changed: anything but a resync of the same object version.
func changed(old, obj client.Object) bool {
	return old == nil || old.GetResourceVersion() != obj.GetResourceVersion()
}

// specChanged ignores status-only updates of kinds with a status
// subresource (the status writer's own writes among them): generation,
// labels and annotations are everything translation reads besides spec.
func specChanged(old, obj client.Object) bool {
	if old == nil {
		return true
	}
	if old.GetResourceVersion() == obj.GetResourceVersion() {
		return false
	}
	return old.GetGeneration() != obj.GetGeneration() || obj.GetGeneration() == 0 ||
		!maps.Equal(old.GetLabels(), obj.GetLabels()) || !maps.Equal(old.GetAnnotations(), obj.GetAnnotations())
}

// gatewayAddressesChanged: a Gateway update that changes status.addresses.
func gatewayAddressesChanged(old, obj client.Object) bool {
	o, ok1 := old.(*gwv1.Gateway)
	n, ok2 := obj.(*gwv1.Gateway)
	if !ok1 || !ok2 {
		return false
	}
	return !reflect.DeepEqual(o.Status.Addresses, n.Status.Addresses)
}

func ownedByGateway(obj client.Object) bool {
	for _, o := range obj.GetOwnerReferences() {
		if o.Kind == "Gateway" && len(o.APIVersion) > len(gwv1.GroupName) && o.APIVersion[:len(gwv1.GroupName)] == gwv1.GroupName {
			return true
		}
	}
	return false
}

// kinds tracks which watched kinds are active (their informer exists), and
// their informers' stores, which builds list without copying (copies.go).
type kinds struct {
	mu     sync.Mutex
	stores map[string]toolscache.Indexer
}

func (k *kinds) isActive(name string) bool { return k.store(name) != nil }

// store is the informer store of an active kind, nil for another. Its
// objects are the cache's own: read them, never write or keep them.
func (k *kinds) store(name string) toolscache.Indexer {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stores[name]
}

// watch registers the informer and event handler of every served kind.
// Before the manager starts this only creates informers; afterwards (a CRD
// installed later) it starts them and waits for their sync.
func (s *Source) watch(ctx context.Context) (missing []string, err error) {
	for _, w := range watchedKinds() {
		if s.kinds.isActive(w.name) {
			continue
		}
		if w.optional {
			gvk, err := apiutil.GVKForObject(w.obj, s.mgr.GetScheme())
			if err != nil {
				return nil, err
			}
			if _, err := s.mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				if meta.IsNoMatchError(err) {
					missing = append(missing, w.name)
					continue
				}
				return nil, fmt.Errorf("looking up %s: %w", w.name, err)
			}
		}
		inf, err := s.mgr.GetCache().GetInformer(ctx, w.obj)
		if err != nil {
			return nil, fmt.Errorf("watching %s: %w", w.name, err)
		}
		indexed, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return nil, fmt.Errorf("watching %s: the cache's informer is a %T, which has no store to list from: the source needs controller-runtime's informer cache (cache.New, without DefaultNamespaces)", w.name, inf)
		}
		if _, err := inf.AddEventHandler(s.handler(w)); err != nil {
			return nil, fmt.Errorf("watching %s: %w", w.name, err)
		}
		s.kinds.mu.Lock()
		s.kinds.stores[w.name] = indexed.GetIndexer()
		s.kinds.mu.Unlock()
		if s.started.Load() {
			s.log.Info("watching a kind whose CRD appeared", "kind", w.name)
			s.MarkDirty()
		}
	}
	return missing, nil
}

// discoverLoop adds the watches of CRDs installed after the start.
func (s *Source) discoverLoop(ctx context.Context, missing []string, every time.Duration) {
	for len(missing) > 0 {
		s.log.Info("CRDs not installed; their kinds are left out until they are", "kinds", missing)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		var err error
		if missing, err = s.watch(ctx); err != nil {
			s.log.Error("watching newly installed CRDs", "error", err)
		}
	}
}

func (s *Source) handler(w watchedKind) toolscache.ResourceEventHandler {
	event := func(old, obj any) {
		o, ok := asObject(obj)
		if !ok {
			s.MarkDirty() // an unexpected type: rebuilding is always safe
			return
		}
		var prev client.Object
		if old != nil {
			prev, _ = asObject(old)
		}
		if w.relevant == nil || w.relevant(s, prev, o) {
			s.events.Add(1)
			s.MarkDirty()
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { event(nil, obj) },
		UpdateFunc: func(old, obj any) { event(old, obj) },
		DeleteFunc: func(obj any) { event(nil, obj) },
	}
}

func asObject(obj any) (client.Object, bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(client.Object)
	return o, ok
}
