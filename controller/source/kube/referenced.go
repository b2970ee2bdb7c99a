package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// readReferenced adds the referenced Services (with their EndpointSlices),
// Secrets and ConfigMaps that exist to snap; a missing one is simply absent
// (translation reports it on the referring object).
func (s *Source) readReferenced(ctx context.Context, snap *snapshot.Snapshot, refs references) error {
	for _, k := range sortedKeys(refs.services) {
		ns, name, _ := strings.Cut(k, "/")
		svc := &corev1.Service{}
		if ok, err := s.get(ctx, ns, name, svc); err != nil {
			return err
		} else if !ok {
			continue
		}
		snap.Services = append(snap.Services, svc)
		slices := &discoveryv1.EndpointSliceList{}
		if err := s.reader.List(ctx, slices, client.InNamespace(ns), client.MatchingLabels{serviceNameLabel: name}); err != nil {
			return fmt.Errorf("listing EndpointSlices of Service %s: %w", k, err)
		}
		snap.EndpointSlices = append(snap.EndpointSlices, ptrs(slices.Items)...)
	}
	for _, k := range sortedKeys(refs.secrets) {
		ns, name, _ := strings.Cut(k, "/")
		sec := &corev1.Secret{}
		if ok, err := s.get(ctx, ns, name, sec); err != nil {
			return err
		} else if ok {
			snap.Secrets = append(snap.Secrets, sec)
		}
	}
	for _, k := range sortedKeys(refs.configMaps) {
		ns, name, _ := strings.Cut(k, "/")
		cm := &corev1.ConfigMap{}
		if ok, err := s.get(ctx, ns, name, cm); err != nil {
			return err
		} else if ok {
			snap.ConfigMaps = append(snap.ConfigMaps, cm)
		}
	}
	return nil
}

// get reads one object from the cache; ok is false if it does not exist.
func (s *Source) get(ctx context.Context, ns, name string, obj client.Object) (bool, error) {
	err := s.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading %T %s/%s: %w", obj, ns, name, err)
	}
	return true, nil
}

// listNamespaces turns the metadata-only Namespace cache into the
// Namespaces translation matches allowedRoutes selectors against.
func (s *Source) listNamespaces(ctx context.Context, snap *snapshot.Snapshot) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := s.reader.List(ctx, list); err != nil {
		return fmt.Errorf("listing Namespaces: %w", err)
	}
	for i := range list.Items {
		snap.Namespaces = append(snap.Namespaces, &corev1.Namespace{ObjectMeta: list.Items[i].ObjectMeta})
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
