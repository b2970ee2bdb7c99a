package ca

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keeper holds the CA State stored in a Secret of the controller namespace.
// Every replica loads it (the first one to find it missing creates it) and
// reloads it periodically; only the leader rotates it (Rotator). A replica
// never writes a State it did not derive from the Secret's current
// resourceVersion, so concurrent replicas cannot fork the CA.
type Keeper struct {
	client client.Client // reads must not come from a cache that may lag a rotation
	key    types.NamespacedName
	policy Policy
	log    *slog.Logger
	// Now and ReloadInterval may be changed before the first call (tests).
	Now            func() time.Time
	ReloadInterval time.Duration

	mu        sync.RWMutex
	state     *State
	listeners []func(*State)
}

// NewKeeper returns a Keeper of the Secret key; nothing is read until Load.
func NewKeeper(c client.Client, key types.NamespacedName, p Policy, log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.Default()
	}
	return &Keeper{client: c, key: key, policy: p.withDefaults(), log: log.With("secret", key.String()),
		Now: time.Now, ReloadInterval: time.Minute}
}

// Policy is the Keeper's rotation policy, defaults filled in.
func (k *Keeper) Policy() Policy { return k.policy }

// State is the last loaded State (nil before the first successful Load).
func (k *Keeper) State() *State {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.state
}

// OnChange registers f, called (synchronously, in the loading goroutine)
// with every State that differs from the previous one, including the first.
func (k *Keeper) OnChange(f func(*State)) {
	k.mu.Lock()
	k.listeners = append(k.listeners, f)
	k.mu.Unlock()
}

// Load reads the CA Secret, creating a new CA when the Secret does not
// exist. A Secret that exists but cannot be decoded is an error and is left
// alone: other replicas and data planes may depend on what it held; delete
// it to start over with a new CA.
func (k *Keeper) Load(ctx context.Context) (*State, error) {
	var sec corev1.Secret
	err := k.client.Get(ctx, k.key, &sec)
	if apierrors.IsNotFound(err) {
		st, cerr := k.create(ctx)
		if cerr == nil {
			k.set(st)
			return st, nil
		}
		if !apierrors.IsAlreadyExists(cerr) {
			return nil, cerr
		}
		// Another replica created it first: use theirs.
		err = k.client.Get(ctx, k.key, &sec)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: reading Secret %s: %w", k.key, err)
	}
	st, err := DecodeState(sec.Data)
	if err != nil {
		return nil, fmt.Errorf("ca: Secret %s: %w (delete the Secret to generate a new CA; every data plane then gets new certificates)", k.key, err)
	}
	k.set(st)
	return st, nil
}

func (k *Keeper) create(ctx context.Context) (*State, error) {
	st, err := NewState(k.Now(), k.policy)
	if err != nil {
		return nil, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: k.key.Namespace, Name: k.key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "edgeway", "app.kubernetes.io/component": "xds-ca"}},
		Type: corev1.SecretTypeOpaque,
		Data: st.Encode(),
	}
	if err := k.client.Create(ctx, sec); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, err
		}
		return nil, fmt.Errorf("ca: creating Secret %s: %w", k.key, err)
	}
	k.log.Info("xDS CA created", "serial", st.Active.Cert.SerialNumber.String(), "notAfter", st.Active.Cert.NotAfter)
	return st, nil
}

// Rotate loads the Secret, advances the rotation (State.Step) and writes
// the result back with the resourceVersion it read: if another writer got
// there first the update fails with a conflict and nothing changes here.
// Only the leader calls it.
func (k *Keeper) Rotate(ctx context.Context) error {
	var sec corev1.Secret
	if err := k.client.Get(ctx, k.key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			_, err = k.Load(ctx)
			return err
		}
		return fmt.Errorf("ca: reading Secret %s: %w", k.key, err)
	}
	st, err := DecodeState(sec.Data)
	if err != nil {
		return fmt.Errorf("ca: Secret %s: %w", k.key, err)
	}
	next, changed, err := st.Step(k.Now(), k.policy)
	if err != nil {
		return err
	}
	if changed {
		sec.Data = next.Encode()
		if err := k.client.Update(ctx, &sec); err != nil {
			return fmt.Errorf("ca: writing rotated CA to Secret %s: %w", k.key, err)
		}
		k.log.Info("xDS CA rotation step", "active", next.Active.Cert.SerialNumber.String(),
			"next", next.Next != nil, "previous", len(next.Previous))
	}
	k.set(next)
	return nil
}

// set stores st and tells the listeners when it differs from the current one.
func (k *Keeper) set(st *State) {
	k.mu.Lock()
	same := k.state != nil && sameState(k.state, st)
	if !same {
		k.state = st
	}
	ls := append([]func(*State){}, k.listeners...)
	k.mu.Unlock()
	if same {
		return
	}
	for _, f := range ls {
		f(st)
	}
}

func sameState(a, b *State) bool {
	ta, tb := a.Trusted(), b.Trusted()
	if len(ta) != len(tb) || !a.Active.Cert.Equal(b.Active.Cert) {
		return false
	}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	return true
}

// Start reloads the Secret every ReloadInterval until ctx is done, so that
// a replica that is not the leader follows rotations. It is a
// controller-runtime Runnable that runs on every replica.
func (k *Keeper) Start(ctx context.Context) error {
	t := time.NewTicker(k.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := k.Load(ctx); err != nil {
				k.log.Error("reloading xDS CA", "error", err)
			}
		}
	}
}

// NeedLeaderElection: every replica follows the CA.
func (k *Keeper) NeedLeaderElection() bool { return false }

// Rotator is the leader's half: a Runnable that rotates when the State's
// next step is due (checking at least every ReloadInterval).
func (k *Keeper) Rotator() *Rotator { return &Rotator{k: k} }

// Rotator runs Keeper.Rotate on the elected leader only.
type Rotator struct{ k *Keeper }

// NeedLeaderElection: only the leader writes the CA Secret.
func (r *Rotator) NeedLeaderElection() bool { return true }

// Start rotates until ctx is done.
func (r *Rotator) Start(ctx context.Context) error {
	for {
		if err := r.k.Rotate(ctx); err != nil && ctx.Err() == nil {
			r.k.log.Error("rotating xDS CA", "error", err)
		}
		wait := r.k.ReloadInterval
		if st := r.k.State(); st != nil {
			if d := st.NextStep(r.k.policy).Sub(r.k.Now()); d < wait {
				wait = max(d, time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
