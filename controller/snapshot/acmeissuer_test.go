package snapshot

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// ACMEIssuer YAML is loaded and validated against edgeway's own CRD, as the
// API server would: enums, the https:// pattern, strict fields.
func TestParseACMEIssuer(t *testing.T) {
	good := `apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata:
  name: letsencrypt
  namespace: web
spec:
  directoryURL: https://acme-v02.api.letsencrypt.org/directory
  email: ops@example.com
  termsOfServiceAgreed: true
  externalAccountBinding: {keyID: kid-1, keySecretRef: {name: eab, key: secret}}
  caBundleRef: {kind: ConfigMap, name: pebble-ca, key: ca.crt}
  challenge: DNS01
  dns01: {provider: rfc2136, credentialsSecretRef: {name: dns}, nameservers: ["127.0.0.1:53"], propagationTimeout: 30s}
  keyType: EC384
  retry: {initialBackoff: 10s, maxBackoff: 5m}
`
	snap, err := Parse("issuer.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.ACMEIssuers) != 1 {
		t.Fatalf("ACMEIssuers = %+v", snap.ACMEIssuers)
	}
	is := snap.ACMEIssuers[0]
	if is.Namespace != "web" || is.Name != "letsencrypt" || is.Spec.Challenge != v1alpha1.ACMEChallengeDNS01 ||
		is.Spec.DNS01 == nil || is.Spec.DNS01.PropagationTimeout.Duration.String() != "30s" ||
		is.Spec.ExternalAccountBinding.KeySecretRef.Name != "eab" || is.Spec.CABundleRef.Kind != "ConfigMap" || is.Generation != 1 {
		t.Fatalf("ACMEIssuer = %+v", is.Spec)
	}

	head := "apiVersion: gateway.edgeway.dev/v1alpha1\nkind: ACMEIssuer\nmetadata:\n  name: x\nspec:\n"
	for _, tc := range []struct{ spec, want string }{
		{"  directoryURL: http://insecure.example/directory\n", "spec.directoryURL"},
		{"  directoryURL: https://ca.example/dir\n  challenge: HTTP-01\n", "spec.challenge"},
		{"  directoryURL: https://ca.example/dir\n  keyType: ED25519\n", "spec.keyType"},
		{"  directoryURL: https://ca.example/dir\n  caBundleRef: {kind: Service, name: a, key: b}\n", "spec.caBundleRef.kind"},
		{"  directoryURL: https://ca.example/dir\n  dns01: {credentialsSecretRef: {name: dns}}\n", "spec.dns01.provider"},
		{"  email: a@example.com\n", "spec.directoryURL"},
		{"  directoryURL: https://ca.example/dir\n  challenges: DNS01\n", `unknown field "challenges"`},
	} {
		_, err := Parse("bad.yaml", []byte(head+tc.spec))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ACMEIssuer default/x") {
			t.Errorf("%q: error %v, want one naming ACMEIssuer default/x and %q", tc.spec, err, tc.want)
		}
	}
}
