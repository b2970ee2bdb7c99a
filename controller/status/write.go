package status

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// write applies mutate to the live object key and patches its status
// subresource when mutate reports a change. The patch carries the
// resourceVersion it was computed from (optimistic lock): if anyone wrote
// the object meanwhile the API server answers Conflict, and the object is
// read again, from the API server this time, and mutate runs again on it.
// A missing object (deleted meanwhile) is not an error.
func (w *Writer) write(ctx context.Context, key client.ObjectKey, obj client.Object, mutate func(client.Object) bool) error {
	var reader client.Reader = w.opts.Client
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if attempt++; attempt > 1 {
			w.conflicts.Add(1)
			if w.opts.APIReader != nil {
				reader = w.opts.APIReader
			}
		}
		if err := reader.Get(ctx, key, obj); err != nil {
			return err
		}
		orig := obj.DeepCopyObject().(client.Object)
		if !mutate(obj) {
			return nil
		}
		w.yield(ctx)
		if err := w.opts.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		w.writes.Add(1)
		statusWritesTotal.Inc()
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing status of %T %s: %w", obj, key, err)
	}
	return nil
}
