package ca_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/ca"
)

// TestKeeper runs two replicas' keepers against a real kube-apiserver: they
// start at once and end up with one CA; the leader's rotation reaches the
// other replica; a damaged Secret is reported, never overwritten.
func TestKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	s := apiserver.Start(t)
	ctx := context.Background()
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edgeway-system"}}); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "edgeway-system", Name: "edgeway-xds-ca"}
	p := ca.Policy{CAValidity: 300 * time.Hour, Propagation: time.Hour}
	k1 := ca.NewKeeper(s.Client, key, p, nil)
	k2 := ca.NewKeeper(s.Client, key, p, nil)

	var wg sync.WaitGroup
	states := make([]*ca.State, 2)
	errs := make([]error, 2)
	for i, k := range []*ca.Keeper{k1, k2} {
		wg.Add(1)
		go func() { defer wg.Done(); states[i], errs[i] = k.Load(ctx) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !states[0].Active.Cert.Equal(states[1].Active.Cert) {
		t.Fatal("two replicas started with two different CAs")
	}

	var seen []*ca.State
	k2.OnChange(func(st *ca.State) { seen = append(seen, st) })

	// The leader's clock reaches two thirds of the CA's life.
	k1.Now = func() time.Time { return ca.RenewAt(states[0].Active.Cert) }
	if err := k1.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if k1.State().Next == nil {
		t.Fatal("the leader did not start a rotation")
	}
	if _, err := k2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Next == nil || !seen[0].Next.Cert.Equal(k1.State().Next.Cert) {
		t.Fatalf("the other replica did not follow the rotation (%d changes)", len(seen))
	}
	// Nothing more to do at the same time: no write, no change.
	var before corev1.Secret
	if err := s.Client.Get(ctx, key, &before); err != nil {
		t.Fatal(err)
	}
	if err := k1.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	var after corev1.Secret
	if err := s.Client.Get(ctx, key, &after); err != nil {
		t.Fatal(err)
	}
	if before.ResourceVersion != after.ResourceVersion {
		t.Fatal("a rotation without a step rewrote the Secret")
	}
	if _, err := k2.Load(ctx); err != nil || len(seen) != 1 {
		t.Fatalf("reloading the same state notified again (%d) or failed: %v", len(seen), err)
	}

	// Damage it: keepers refuse it and leave it for a person to look at.
	after.Data[ca.KeyKey] = []byte("not a key")
	if err := s.Client.Update(ctx, &after); err != nil {
		t.Fatal(err)
	}
	_, err := ca.NewKeeper(s.Client, key, p, nil).Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "keys ca.crt/ca.key") || !strings.Contains(err.Error(), "delete the Secret") {
		t.Fatalf("damaged Secret: %v", err)
	}
	if err := k1.Rotate(ctx); err == nil {
		t.Fatal("the leader rotated a damaged CA")
	}
	var still corev1.Secret
	if err := s.Client.Get(ctx, key, &still); err != nil {
		t.Fatal(err)
	}
	if string(still.Data[ca.KeyKey]) != "not a key" {
		t.Fatal("a damaged CA Secret was overwritten")
	}
	if k2.State() == nil || !k2.State().Active.Cert.Equal(states[0].Active.Cert) {
		t.Fatal("a failed reload dropped the CA in use")
	}
}
