package status

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeKey names a route of one kind.
type routeKey struct{ kind, namespace, name string }

// routeInLine is what a pass left a route at: the translation's parent
// statuses it brought the live route in line with (by identity: the first
// element and the length of the Translator's slice, which it hands out
// again while nothing about the route changed) and the route's
// resourceVersion after that.
type routeInLine struct {
	first *gwv1.RouteParentStatus
	n     int
	rv    string
}

// liveRouteVersions lists the resourceVersion of every route of the kinds
// in kinds from the Writer's client. On the informer cache that is a list
// without deep copies (the objects are only read here, never kept): a
// status pass at thousands of routes otherwise read and deep-copied every
// route twice and compared its status by reflection, even when the
// translation had not changed it. A kind that cannot be listed is left
// out: its routes take the full path.
func (w *Writer) liveRouteVersions(ctx context.Context, kinds map[string]bool) map[routeKey]string {
	out := map[routeKey]string{}
	for kind := range kinds {
		rk, ok := routeKinds[kind]
		if !ok {
			continue
		}
		list := rk.newList()
		if err := w.opts.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			if m, ok := o.(metav1.Object); ok {
				out[routeKey{kind, m.GetNamespace(), m.GetName()}] = m.GetResourceVersion()
			}
			return nil
		})
	}
	return out
}

// inLine reports whether the route is as the last pass left it, in line
// with the same translated statuses: then there is nothing to read or
// write. The live route's resourceVersion tells whether anyone (this
// writer included) wrote it since.
func (m routeInLine) inLine(desired []gwv1.RouteParentStatus, liveRV string) bool {
	return m.first != nil && len(desired) == m.n && len(desired) > 0 && &desired[0] == m.first && liveRV != "" && liveRV == m.rv
}

func remember(desired []gwv1.RouteParentStatus, rv string) (routeInLine, bool) {
	if len(desired) == 0 || rv == "" {
		return routeInLine{}, false
	}
	return routeInLine{first: &desired[0], n: len(desired), rv: rv}, true
}
