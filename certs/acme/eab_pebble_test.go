package acme

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/pebble"
)

// eabHMACKey is a fresh 256-bit HMAC key as CAs show them: base64url
// without padding.
func eabHMACKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// withEAB binds c's issuer (renamed to issuer, so that each has its own
// account Secret) to key ID kid, with key as the Secret holds it.
func withEAB(c snapshot.ACMECertificate, issuer, kid, key string) snapshot.ACMECertificate {
	c.Issuer = c.Issuer.DeepCopy()
	c.Issuer.Name = issuer
	c.Issuer.Spec.ExternalAccountBinding = &v1alpha1.ACMEExternalAccountBinding{
		KeyID:        kid,
		KeySecretRef: v1alpha1.ACMEKeyRef{Name: issuer + "-eab", Key: "secret"},
	}
	c.EABKey = key
	return c
}

func failed(st *snapshot.ACMEState) bool { return st.Phase == snapshot.ACMEFailed }

// Against a CA that requires an external account binding (RFC 8555
// section 7.3.4): an issuer with spec.externalAccountBinding and the key
// its keySecretRef names registers and gets its certificate over HTTP-01;
// one with the wrong key, or none, fails with AccountFailed naming the
// binding and what to fix, and a corrected key is used at the next Sync.
func TestPebbleExternalAccountBinding(t *testing.T) {
	t.Parallel()
	ln, port := listen(t)
	key := eabHMACKey(t)
	s := pebble.Start(t, pebble.Options{HTTPPort: port, EABKeys: map[string]string{"kid-edgeway": key}})
	store := newStore(t, t.TempDir())
	serveHTTP01(t, store, ln)
	addrs := []string{fmt.Sprintf("127.0.0.1:%d", port)}

	base := func(secret, domain string) snapshot.ACMECertificate {
		c := pebbleCertificate(s, v1alpha1.ACMEChallengeHTTP01, secret, domain)
		c.HTTP01Addresses = addrs
		return c
	}
	good := withEAB(base("eab-tls", "eab.edgeway.test"), "pebble", "kid-edgeway", key)
	// Secrets made from a file often end in a newline; base64url has no
	// whitespace, so it is not part of the key.
	newline := withEAB(base("eab-newline-tls", "newline.edgeway.test"), "pebble-newline", "kid-edgeway", key+"\n")
	wrong := withEAB(base("eab-wrong-tls", "wrong.edgeway.test"), "pebble-wrong", "kid-edgeway", eabHMACKey(t))
	// Pebble's problem for a kid it does not know does not say that it is
	// about the binding: edgeway's message must.
	unknownKID := withEAB(base("eab-unknown-kid-tls", "unknown-kid.edgeway.test"), "pebble-unknown-kid", "kid-unknown", key)
	none := base("eab-none-tls", "none.edgeway.test")
	none.Issuer.Name = "pebble-none"
	// Not base64url at all (standard base64's + and /, a space): no CA
	// can accept it, so it is refused before one is asked.
	malformed := withEAB(base("eab-malformed-tls", "malformed.edgeway.test"), "pebble-malformed", "kid-edgeway", "not+base64/url ")

	m := startManager(t, Options{Store: store})
	m.Sync([]snapshot.ACMECertificate{good, newline, wrong, unknownKID, none, malformed})

	st := waitState(t, store, good.Secret, orderWait, "Ready", ready)
	if st.Reason != ReasonIssued {
		t.Errorf("state with the right binding = %+v; want Issued", st)
	}
	checkCertificate(t, s, store, good)
	acct, err := store.Get(context.Background(), types.NamespacedName{Namespace: "apps", Name: AccountSecretName("pebble")})
	if err != nil || acct == nil || len(acct.Data["registration.json"]) == 0 {
		t.Errorf("account Secret of the bound issuer: %v, %v; want it with registration.json", acct, err)
	}

	st = waitState(t, store, newline.Secret, orderWait, "Ready", ready)
	if st.Reason != ReasonIssued {
		t.Errorf("state with the key followed by a newline = %+v; want Issued", st)
	}

	st = waitState(t, store, wrong.Secret, orderWait, "Failed", failed)
	if st.Reason != ReasonAccountFailed || st.Failures != 1 || st.NextAttempt == nil {
		t.Errorf("state with the wrong key = %+v; want AccountFailed, 1 failure, a next attempt", st)
	}
	for _, w := range []string{
		"external account binding", // what the CA refused
		"(unauthorized)",           // the CA's problem type
		"spec.externalAccountBinding",
		"kid-edgeway",
		"Secret apps/pebble-wrong-eab", // where the key came from
	} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message with the wrong key does not contain %q:\n%s", w, st.Message)
		}
	}
	if e := m.events.find(ReasonAccountFailed); e == nil || !e.Warning {
		t.Errorf("AccountFailed event = %+v, want a warning", e)
	}
	if got := testutil.ToFloat64(m.metrics.failures.WithLabelValues("apps", "eab-wrong-tls", "apps/pebble-wrong", kindIssue, ReasonAccountFailed)); got != 1 {
		t.Errorf("edgeway_acme_order_failures_total{reason=AccountFailed} = %v, want 1", got)
	}
	if a, _ := store.Get(context.Background(), types.NamespacedName{Namespace: "apps", Name: AccountSecretName("pebble-wrong")}); a != nil && len(a.Data["registration.json"]) > 0 {
		t.Error("the refused account has a registration in its Secret")
	}

	st = waitState(t, store, unknownKID.Secret, orderWait, "Failed", failed)
	if st.Reason != ReasonAccountFailed {
		t.Errorf("state with an unknown key ID = %+v; want AccountFailed", st)
	}
	for _, w := range []string{"(unauthorized)", "refused the external account binding", `spec.externalAccountBinding.keyID "kid-unknown"`, "Secret apps/pebble-unknown-kid-eab"} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message with an unknown key ID does not contain %q:\n%s", w, st.Message)
		}
	}

	st = waitState(t, store, none.Secret, orderWait, "Failed", failed)
	if st.Reason != ReasonAccountFailed {
		t.Errorf("state without a binding = %+v; want AccountFailed", st)
	}
	for _, w := range []string{"(externalAccountRequired)", "set spec.externalAccountBinding"} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message without a binding does not contain %q:\n%s", w, st.Message)
		}
	}

	st = waitState(t, store, malformed.Secret, orderWait, "Failed", failed)
	if st.Reason != ReasonInvalidIssuer || st.NextAttempt != nil {
		t.Errorf("state with a key that is not base64url = %+v; want InvalidIssuer, no next attempt before the configuration changes", st)
	}
	for _, w := range []string{"spec.externalAccountBinding.keySecretRef", "Secret apps/pebble-malformed-eab", "base64url"} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("message with a key that is not base64url does not contain %q:\n%s", w, st.Message)
		}
	}
	if got := testutil.ToFloat64(m.metrics.orders.WithLabelValues("apps", "eab-malformed-tls", "apps/pebble-malformed", kindIssue)); got != 0 {
		t.Errorf("edgeway_acme_orders_total for the key that is not base64url = %v, want 0 (nothing to ask the CA)", got)
	}

	// The user corrects the key in the Secret: the next Sync orders with
	// it at once, without waiting for the backoff.
	fixed := withEAB(wrong, "pebble-wrong", "kid-edgeway", key)
	m.Sync([]snapshot.ACMECertificate{good, newline, fixed, unknownKID, none, malformed})
	st = waitState(t, store, fixed.Secret, orderWait, "Ready", ready)
	if st.Failures != 0 || st.NextAttempt != nil {
		t.Errorf("state after correcting the key = %+v; want failures and next attempt cleared", st)
	}
}
