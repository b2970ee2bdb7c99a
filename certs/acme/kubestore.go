package acme

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// KubeStore keeps the manager's Secrets in the API server. Only the elected
// leader runs the manager, so it is the only writer; every replica reads the
// Secrets back through its informer cache.
//
// Writes never take over a Secret that edgeway ACME did not write: a new
// Secret is created (AlreadyExists if someone else created it meanwhile,
// then it is read again and checked), an existing one is server-side
// applied with the resourceVersion it was checked at, so a change between
// the check and the write is a conflict, not a take-over. In the Helm chart
// an admission policy enforces the same rule on the API server's side.
type KubeStore struct {
	c          client.Client
	fieldOwner string
}

var _ Store = (*KubeStore)(nil)

// NewKubeStore returns a Store on c, which should read from the API server
// (client.New, not a manager's cached client): the manager reads what it
// wrote a moment ago, and a cache may not have it yet. fieldOwner is the
// server-side apply field manager of every write.
func NewKubeStore(c client.Client, fieldOwner string) *KubeStore {
	return &KubeStore{c: c, fieldOwner: fieldOwner}
}

// Get implements Store.
func (k *KubeStore) Get(ctx context.Context, ref types.NamespacedName) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := k.c.Get(ctx, ref, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read Secret %s: %w", ref, err)
	}
	return &s, nil
}

// putBackoff spaces the retries of Put when someone else writes the same
// Secret between its read and its write (jitter: two writers that collided
// do not collide again in lockstep). Only the leader writes, so a conflict
// means a user or another tool touched the Secret at the same moment.
var putBackoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Jitter: 1, Steps: 8}

// Put implements Store.
func (k *KubeStore) Put(ctx context.Context, s *corev1.Secret) error {
	ref := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	if ref.Namespace == "" || ref.Name == "" {
		return fmt.Errorf("write Secret %q: namespace and name are required", ref)
	}
	want := desired(s)
	var err error
	backoff := putBackoff
	for attempt := 0; attempt < putBackoff.Steps; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("write Secret %s: %w (last attempt: %v)", ref, ctx.Err(), err)
			case <-time.After(backoff.Step()):
			}
		}
		var cur *corev1.Secret
		if cur, err = k.Get(ctx, ref); err != nil {
			return err
		}
		if cur == nil {
			err = k.c.Create(ctx, want.DeepCopy(), client.FieldOwner(k.fieldOwner))
			if apierrors.IsAlreadyExists(err) {
				continue // created by someone else meanwhile: check it
			}
			if err != nil {
				return fmt.Errorf("create Secret %s: %w", ref, err)
			}
			return nil
		}
		if err := checkManaged(cur, want); err != nil {
			return err
		}
		if upToDate(cur, want) {
			return nil
		}
		err = k.c.Apply(ctx, applyConfig(want, cur.ResourceVersion), client.FieldOwner(k.fieldOwner), client.ForceOwnership)
		if apierrors.IsConflict(err) {
			continue // changed since it was checked: check again
		}
		if err != nil {
			return fmt.Errorf("write Secret %s: %w", ref, err)
		}
		return nil
	}
	return fmt.Errorf("write Secret %s: it changed between each read and write, %d times (is another tool writing it?): %w", ref, putBackoff.Steps, err)
}

// desired is exactly what Put writes: namespace, name, type, labels,
// annotations and data (StringData folded into Data, as the API server
// would).
func desired(s *corev1.Secret) *corev1.Secret {
	out := &corev1.Secret{Type: s.Type, Data: maps.Clone(s.Data)}
	out.Namespace, out.Name = s.Namespace, s.Name
	out.Labels, out.Annotations = maps.Clone(s.Labels), maps.Clone(s.Annotations)
	if out.Type == "" {
		out.Type = corev1.SecretTypeOpaque
	}
	for k, v := range s.StringData {
		if out.Data == nil {
			out.Data = map[string][]byte{}
		}
		out.Data[k] = []byte(v)
	}
	return out
}

// checkManaged refuses to overwrite a Secret that edgeway ACME did not
// write: a certificate Secret (type kubernetes.io/tls, existing or being
// written) without snapshot.ACMEIssuerAnnotation, or a Secret in the place
// of a state or account Secret without its label (snapshot.ACMEStateLabel,
// AccountLabel).
func checkManaged(cur, want *corev1.Secret) error {
	ref := types.NamespacedName{Namespace: cur.Namespace, Name: cur.Name}
	if cur.Type == corev1.SecretTypeTLS || want.Type == corev1.SecretTypeTLS {
		if _, ok := cur.Annotations[snapshot.ACMEIssuerAnnotation]; !ok {
			return fmt.Errorf("%w: Secret %s (type %s) has no %s annotation: edgeway did not issue it and never overwrites it; "+
				"point the listener's certificateRefs at another Secret, or delete this one to let edgeway issue it",
				ErrNotManaged, ref, cur.Type, snapshot.ACMEIssuerAnnotation)
		}
	}
	for _, mark := range []struct{ label, what string }{
		{snapshot.ACMEStateLabel, "ACME state (rename the certificate Secret, or delete this one)"},
		{AccountLabel, "ACME account (rename the ACMEIssuer, or delete this Secret)"},
	} {
		if want.Labels[mark.label] == "true" && cur.Labels[mark.label] != "true" {
			return fmt.Errorf("%w: Secret %s has no %s=true label, so it is not edgeway's %s",
				ErrNotManaged, ref, mark.label, mark.what)
		}
	}
	if cur.Type != want.Type {
		// The API server refuses to change a Secret's type; say what to do.
		return fmt.Errorf("write Secret %s: it exists with type %s and edgeway writes type %s (a Secret's type cannot change); delete it",
			ref, cur.Type, want.Type)
	}
	return nil
}

// upToDate: the live Secret already has everything Put would write, so the
// write is skipped (the state Secret is put after every step of an order).
func upToDate(cur, want *corev1.Secret) bool {
	if cur.Type != want.Type || len(cur.Data) != len(want.Data) {
		return false
	}
	for k, v := range want.Data {
		if c, ok := cur.Data[k]; !ok || string(c) != string(v) {
			return false
		}
	}
	for k, v := range want.Labels {
		if c, ok := cur.Labels[k]; !ok || c != v {
			return false
		}
	}
	for k, v := range want.Annotations {
		if c, ok := cur.Annotations[k]; !ok || c != v {
			return false
		}
	}
	return true
}

// applyConfig is the server-side apply of want, valid only while the
// Secret still has resourceVersion rv.
func applyConfig(want *corev1.Secret, rv string) *corev1ac.SecretApplyConfiguration {
	ac := corev1ac.Secret(want.Name, want.Namespace).WithType(want.Type).WithResourceVersion(rv)
	if len(want.Labels) > 0 {
		ac.WithLabels(want.Labels)
	}
	if len(want.Annotations) > 0 {
		ac.WithAnnotations(want.Annotations)
	}
	if len(want.Data) > 0 {
		ac.WithData(want.Data)
	}
	return ac
}
