package kube

import (
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// readReferenced adds the referenced Services (with their EndpointSlices),
// Secrets and ConfigMaps that exist to snap; a missing one is simply absent
// (translation reports it on the referring object). Like every kind of the
// Snapshot they are read from the informers' stores and copied through the
// memo.
func (s *Source) readReferenced(snap *snapshot.Snapshot, refs references) error {
	c := &s.copies
	slices := s.kinds.store("EndpointSlice")
	for _, k := range sortedKeys(refs.services) {
		svc, err := getKind(s, "Service", k, &c.services)
		if err != nil {
			return err
		}
		if svc == nil {
			continue
		}
		snap.Services = append(snap.Services, svc)
		if slices == nil {
			return errors.New("listing EndpointSlices: their informer is not running; this is a bug in the source's watches")
		}
		cached, err := slices.ByIndex(toolscache.NamespaceIndex, svc.Namespace)
		if err != nil {
			return fmt.Errorf("listing EndpointSlices of Service %s: %w", k, err)
		}
		for _, o := range cached {
			es, ok := o.(*discoveryv1.EndpointSlice)
			if !ok {
				return fmt.Errorf("listing EndpointSlices: the cache holds a %T; this is a bug in the source's watches", o)
			}
			if es.Labels[serviceNameLabel] == svc.Name {
				snap.EndpointSlices = append(snap.EndpointSlices, c.endpointSlices.copyOf(es, deepCopyOf[discoveryv1.EndpointSlice]))
			}
		}
	}
	for _, k := range sortedKeys(refs.secrets) {
		sec, err := getKind(s, "Secret", k, &c.secrets)
		if err != nil {
			return err
		} else if sec != nil {
			snap.Secrets = append(snap.Secrets, sec)
		}
	}
	for _, k := range sortedKeys(refs.configMaps) {
		cm, err := getKind(s, "ConfigMap", k, &c.configMaps)
		if err != nil {
			return err
		} else if cm != nil {
			snap.ConfigMaps = append(snap.ConfigMaps, cm)
		}
	}
	return nil
}

// getKind reads the object key ("namespace/name") of one kind from its
// informer's store through the memo; nil if it does not exist.
func getKind[T any, PT deepCopyable[T]](s *Source, kind, key string, memo *copyMemo[T]) (*T, error) {
	store := s.kinds.store(kind)
	if store == nil {
		return nil, fmt.Errorf("reading %s %s: its informer is not running; this is a bug in the source's watches", kind, key)
	}
	o, ok, err := store.GetByKey(key)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, key, err)
	}
	if !ok {
		return nil, nil
	}
	obj, ok := o.(PT)
	if !ok {
		return nil, fmt.Errorf("reading %s %s: the cache holds a %T; this is a bug in the source's watches", kind, key, o)
	}
	return memo.copyOf(obj, deepCopyOf[T, PT]), nil
}

// listNamespaces turns the metadata-only Namespace cache into the
// Namespaces translation matches allowedRoutes selectors against.
func (s *Source) listNamespaces(snap *snapshot.Snapshot) error {
	store := s.kinds.store("Namespace")
	if store == nil {
		return errors.New("listing Namespaces: their informer is not running; this is a bug in the source's watches")
	}
	cached := store.List()
	snap.Namespaces = make([]*corev1.Namespace, 0, len(cached))
	for _, o := range cached {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			return fmt.Errorf("listing Namespaces: the cache holds a %T; this is a bug in the source's watches", o)
		}
		snap.Namespaces = append(snap.Namespaces, s.copies.namespaces.copyOf(m, namespaceOf))
	}
	return nil
}

// namespaceOf is a Namespace of a cached Namespace's metadata (copied).
func namespaceOf(o metav1.Object) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: *o.(*metav1.PartialObjectMetadata).ObjectMeta.DeepCopy()}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
