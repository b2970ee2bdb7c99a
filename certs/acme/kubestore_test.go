package acme_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/edgeway/edgeway/certs/acme"
	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/snapshot"
)

const storeFieldOwner = "edgeway-acme-test"

// certSecret is a certificate Secret as the manager writes it.
func certSecret(ns, name, crt string) *corev1.Secret {
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte(crt), "tls.key": []byte("key of " + crt)}}
	s.Namespace, s.Name = ns, name
	s.Annotations = map[string]string{snapshot.ACMEIssuerAnnotation: ns + "/pebble", snapshot.ACMEDomainsAnnotation: "app.acme.test"}
	return s
}

// TestKubeStore runs the Store against a real kube-apiserver: create,
// replace, no write when nothing changed, other managers' fields kept,
// refusal of Secrets edgeway ACME did not write, and concurrent writers.
func TestKubeStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	ctx := context.Background()
	const ns = "team-a"
	if err := api.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	store := acme.NewKubeStore(api.Client, storeFieldOwner)
	live := func(name string) *corev1.Secret {
		t.Helper()
		var s corev1.Secret
		if err := api.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}

	t.Run("Get of a missing Secret is nil, no error", func(t *testing.T) {
		s, err := store.Get(ctx, types.NamespacedName{Namespace: ns, Name: "nothing"})
		if s != nil || err != nil {
			t.Fatalf("Get = %v, %v; want nil, nil", s, err)
		}
	})

	t.Run("certificate Secret: create, replace, unchanged, foreign fields kept", func(t *testing.T) {
		if err := store.Put(ctx, certSecret(ns, "app-tls", "one")); err != nil {
			t.Fatal(err)
		}
		got, err := store.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-tls"})
		if err != nil || got == nil {
			t.Fatalf("Get after Put: %v, %v", got, err)
		}
		if got.Type != corev1.SecretTypeTLS || string(got.Data["tls.crt"]) != "one" || got.Annotations[snapshot.ACMEIssuerAnnotation] != ns+"/pebble" {
			t.Fatalf("stored %s %v %v", got.Type, got.Annotations, got.Data)
		}

		// A user (or another tool) labels it; a replacement keeps that.
		patch := []byte(`{"metadata":{"labels":{"team":"a"},"annotations":{"note":"mine"}}}`)
		if err := api.Client.Patch(ctx, got, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, certSecret(ns, "app-tls", "two")); err != nil {
			t.Fatal(err)
		}
		got = live("app-tls")
		if string(got.Data["tls.crt"]) != "two" || string(got.Data["tls.key"]) != "key of two" {
			t.Errorf("not replaced: %v", got.Data)
		}
		if got.Labels["team"] != "a" || got.Annotations["note"] != "mine" {
			t.Errorf("another manager's fields lost: %v %v", got.Labels, got.Annotations)
		}
		owned := false
		for _, m := range got.ManagedFields {
			if m.Manager == storeFieldOwner && m.Operation == metav1.ManagedFieldsOperationApply {
				owned = true
			}
		}
		if !owned {
			t.Errorf("no server-side apply by %q in managedFields %+v", storeFieldOwner, got.ManagedFields)
		}

		// The same content again: no write at all.
		rv := got.ResourceVersion
		if err := store.Put(ctx, certSecret(ns, "app-tls", "two")); err != nil {
			t.Fatal(err)
		}
		if got = live("app-tls"); got.ResourceVersion != rv {
			t.Errorf("an unchanged Put wrote the Secret: resourceVersion %s -> %s", rv, got.ResourceVersion)
		}
	})

	t.Run("state Secret round trip", func(t *testing.T) {
		cert := types.NamespacedName{Namespace: ns, Name: "app-tls"}
		st := &snapshot.ACMEState{Issuer: ns + "/pebble", Domains: []string{"app.acme.test"}, Phase: snapshot.ACMEPending, Reason: "Ordering",
			HTTP01: []snapshot.ACMEHTTP01Challenge{{Domain: "app.acme.test", Token: "tok", KeyAuthorization: "tok.thumb"}}}
		s, err := snapshot.EncodeACMEState(cert, st)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := store.Get(ctx, types.NamespacedName{Namespace: ns, Name: snapshot.ACMEStateSecretName("app-tls")})
		if err != nil || got == nil {
			t.Fatalf("Get: %v %v", got, err)
		}
		back, err := snapshot.DecodeACMEState(got)
		if err != nil {
			t.Fatal(err)
		}
		if back.Reason != "Ordering" || len(back.HTTP01) != 1 || back.HTTP01[0].KeyAuthorization != "tok.thumb" || got.Labels[snapshot.ACMEStateLabel] != "true" {
			t.Errorf("state %+v labels %v", back, got.Labels)
		}
		// Ready: the challenge material is gone from the stored state.
		st.Phase, st.Reason, st.HTTP01 = snapshot.ACMEReady, "Issued", nil
		if s, err = snapshot.EncodeACMEState(cert, st); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		if back, err = snapshot.DecodeACMEState(live(snapshot.ACMEStateSecretName("app-tls"))); err != nil || back.Phase != snapshot.ACMEReady || len(back.HTTP01) != 0 {
			t.Errorf("state after the second Put: %+v %v", back, err)
		}
	})

	t.Run("Secrets edgeway ACME did not write are refused and untouched", func(t *testing.T) {
		userTLS := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("user cert"), "tls.key": []byte("user key")}}
		userOpaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user-opaque"}, Data: map[string][]byte{"k": []byte("v")}}
		userState := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: snapshot.ACMEStateSecretName("user-opaque")}, Data: map[string][]byte{"k": []byte("v")}}
		for _, s := range []*corev1.Secret{userTLS, userOpaque, userState} {
			if err := api.Client.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			what string
			put  *corev1.Secret
		}{
			{"a certificate over a user's TLS Secret", certSecret(ns, "user-tls", "acme")},
			{"a certificate over a user's Opaque Secret", certSecret(ns, "user-opaque", "acme")},
		} {
			err := store.Put(ctx, c.put)
			if !errors.Is(err, acme.ErrNotManaged) {
				t.Errorf("%s: %v, want ErrNotManaged", c.what, err)
			}
			t.Logf("%s: %v", c.what, err)
		}
		state, err := snapshot.EncodeACMEState(types.NamespacedName{Namespace: ns, Name: "user-opaque"}, &snapshot.ACMEState{Phase: snapshot.ACMEPending})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, state); !errors.Is(err, acme.ErrNotManaged) {
			t.Errorf("a state Secret over a user's Secret of that name: %v, want ErrNotManaged", err)
		}
		account := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"key.pem": []byte("k")}}
		account.Namespace, account.Name = ns, userOpaque.Name
		account.Labels = map[string]string{acme.AccountLabel: "true"}
		if err := store.Put(ctx, account); !errors.Is(err, acme.ErrNotManaged) {
			t.Errorf("an account Secret over a user's Secret of that name: %v, want ErrNotManaged", err)
		}
		for _, s := range []*corev1.Secret{userTLS, userOpaque, userState} {
			got := live(s.Name)
			if got.ResourceVersion != s.ResourceVersion {
				t.Errorf("%s was written: resourceVersion %s -> %s", s.Name, s.ResourceVersion, got.ResourceVersion)
			}
		}
	})

	t.Run("concurrent writers of one Secret all succeed; one of them wins", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				for j := range 5 {
					if err := store.Put(ctx, certSecret(ns, "busy-tls", fmt.Sprintf("writer %d put %d", i, j))); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}
		got := live("busy-tls")
		crt := string(got.Data["tls.crt"])
		if string(got.Data["tls.key"]) != "key of "+crt {
			t.Errorf("a mix of two writes: tls.crt %q, tls.key %q", crt, got.Data["tls.key"])
		}
	})
}
