package pebble

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/registration"
)

// newEABKey is a fresh 256-bit HMAC key as CAs show them (base64url
// without padding).
func newEABKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// With Options.EABKeys Pebble requires an external account binding: the
// directory says so, a registration without one is refused with
// externalAccountRequired, one with an unknown kid or the wrong key with
// unauthorized, and one bound with a configured kid and its key succeeds.
func TestEABRequired(t *testing.T) {
	key := newEABKey(t)
	s := Start(t, Options{EABKeys: map[string]string{"kid-edgeway": key, "kid-other": newEABKey(t)}})

	client, user := newUnregisteredLegoClient(t, s)
	if !client.GetExternalAccountRequired() {
		t.Error("the directory's meta.externalAccountRequired is false, want true")
	}
	_, err := client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	wantProblem(t, "registering without a binding", err, "urn:ietf:params:acme:error:externalAccountRequired", "externalAccountBinding")

	_, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
		TermsOfServiceAgreed: true, Kid: "kid-unknown", HmacEncoded: key,
	})
	wantProblem(t, "binding with an unknown kid", err, "urn:ietf:params:acme:error:unauthorized", "not known")

	_, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
		TermsOfServiceAgreed: true, Kid: "kid-edgeway", HmacEncoded: newEABKey(t),
	})
	wantProblem(t, "binding with the wrong key", err, "urn:ietf:params:acme:error:unauthorized", "verification error")

	user.reg, err = client.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
		TermsOfServiceAgreed: true, Kid: "kid-edgeway", HmacEncoded: key,
	})
	if err != nil {
		t.Fatalf("binding with kid-edgeway and its key: %v", err)
	}
	if user.reg.URI == "" || user.reg.Body.Status != "valid" {
		t.Errorf("registration = %+v, want a valid account with a URI", user.reg)
	}
}

// Without Options.EABKeys no binding is required.
func TestEABNotRequiredByDefault(t *testing.T) {
	s := Start(t, Options{})
	client, _ := newUnregisteredLegoClient(t, s)
	if client.GetExternalAccountRequired() {
		t.Error("the directory's meta.externalAccountRequired is true without Options.EABKeys")
	}
}

// Keys Pebble would refuse at startup are refused before it runs, with
// the reason.
func TestCheckEABKeys(t *testing.T) {
	for _, tc := range []struct {
		keys map[string]string
		want string // "" means accepted
	}{
		{nil, ""},
		{map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}, ""},
		{map[string]string{"kid-1": "YWJj"}, ""},
		{map[string]string{"kid-1": "YWI="}, "without padding"},
		{map[string]string{"kid-1": "a+b/"}, "base64url"},
		{map[string]string{"": "YWJj"}, "may be empty"},
		{map[string]string{"kid-1": ""}, "may be empty"},
	} {
		err := checkEABKeys(tc.keys)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkEABKeys(%v) = %v, want nil", tc.keys, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkEABKeys(%v) = %v, want an error containing %q", tc.keys, err, tc.want)
		}
	}
}

// wantProblem checks that err is the CA's problem of type typ whose detail
// contains detail.
func wantProblem(t *testing.T, what string, err error, typ, detail string) {
	t.Helper()
	var p *acme.ProblemDetails
	if !errors.As(err, &p) {
		t.Errorf("%s: %v, want the CA's problem %s", what, err, typ)
		return
	}
	if p.Type != typ || !strings.Contains(p.Detail, detail) {
		t.Errorf("%s: problem %s %q, want %s mentioning %q", what, p.Type, p.Detail, typ, detail)
	}
}
