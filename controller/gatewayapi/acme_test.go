package gatewayapi

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

func parseSnapshot(t *testing.T, doc string) *snapshot.Snapshot {
	t.Helper()
	snap, err := snapshot.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// testCert is a certificate and key from testdata/certs, as Secret stringData.
func testCert(t *testing.T, name string) (crt, key string) {
	t.Helper()
	c, err := os.ReadFile("testdata/certs/" + name + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile("testdata/certs/" + name + ".key")
	if err != nil {
		t.Fatal(err)
	}
	return string(c), string(k)
}

const acmeCertificatesInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: theirs}
spec: {controllerName: example.com/other}
---
# Two plain HTTP listeners, two HTTPS listeners writing one Secret in
# another namespace (granted), bound on 0.0.0.0.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: apps, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: http-alt, port: 8080, protocol: HTTP}
  - name: www
    port: 443
    protocol: HTTPS
    hostname: www.example.com
    tls:
      certificateRefs: [{name: site-tls, namespace: certs}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
  - name: apex
    port: 443
    protocol: HTTPS
    hostname: example.com
    tls:
      certificateRefs: [{name: site-tls, namespace: certs}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
  - name: wildcard
    port: 443
    protocol: HTTPS
    hostname: "*.example.com"
    tls:
      certificateRefs: [{name: wildcard-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
  - name: nowhere
    port: 443
    protocol: HTTPS
    hostname: nowhere.example.com
    tls:
      certificateRefs: [{name: nowhere-tls}]
      options: {gateway.edgeway.dev/acme-issuer: missing}
  - name: plain
    port: 443
    protocol: HTTPS
    hostname: plain.example.com
    tls:
      certificateRefs: [{name: plain-tls}]
---
# A second Gateway of ours, bound on 127.0.0.2, joining the same order with
# another hostname, and a DNS-01 wildcard with every issuer reference. Its
# HTTP port is not 80: web's 0.0.0.0:80 takes port 80 on 127.0.0.2 too.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: apps, creationTimestamp: "2024-02-01T00:00:00Z"}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.2}]
  listeners:
  - {name: http, port: 8081, protocol: HTTP}
  - name: api
    port: 8443
    protocol: TLS
    hostname: api.example.com
    tls:
      mode: Terminate
      certificateRefs: [{name: site-tls, namespace: certs}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
  - name: dns
    port: 8443
    protocol: TLS
    hostname: "*.dns.example.com"
    tls:
      mode: Terminate
      certificateRefs: [{name: dns-tls}]
      options: {gateway.edgeway.dev/acme-issuer: dns}
  - name: conflict
    port: 9443
    protocol: HTTPS
    hostname: conflict.example.com
    tls:
      certificateRefs: [{name: site-tls, namespace: certs}]
      options: {gateway.edgeway.dev/acme-issuer: dns}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: foreign, namespace: apps}
spec:
  gatewayClassName: theirs
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: foreign.example.com
    tls:
      certificateRefs: [{name: foreign-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: apps}]
  to: [{group: "", kind: Secret, name: site-tls}]
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: letsencrypt, namespace: apps}
spec:
  directoryURL: https://acme.example/directory
  termsOfServiceAgreed: true
  externalAccountBinding: {keyID: kid-1, keySecretRef: {name: eab, key: hmac}}
  caBundleRef: {kind: ConfigMap, name: private-ca, key: ca.crt}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: dns, namespace: apps}
spec:
  directoryURL: https://acme.example/directory
  challenge: DNS01
  caBundleRef: {name: ca-secret, key: bundle.pem}
  dns01: {provider: rfc2136, credentialsSecretRef: {name: rfc2136}}
---
apiVersion: v1
kind: Secret
metadata: {name: eab, namespace: apps}
stringData: {hmac: c2VjcmV0LWhtYWMta2V5}
---
apiVersion: v1
kind: Secret
metadata: {name: rfc2136, namespace: apps}
stringData: {RFC2136_NAMESERVER: "127.0.0.1:53", RFC2136_TSIG_KEY: edgeway}
`

func acmeCertificatesSnapshot(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	ca, _ := testCert(t, "other")
	doc := acmeCertificatesInput + `---
apiVersion: v1
kind: ConfigMap
metadata: {name: private-ca, namespace: apps}
data:
  ca.crt: |
` + indentLines(ca, "    ") + `---
apiVersion: v1
kind: Secret
metadata: {name: ca-secret, namespace: apps}
stringData:
  bundle.pem: |
` + indentLines(ca, "    ")
	return parseSnapshot(t, doc)
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func TestACMECertificates(t *testing.T) {
	snap := acmeCertificatesSnapshot(t)
	ca, _ := testCert(t, "other")
	got := ACMECertificates(snap)

	type summary struct {
		Secret             types.NamespacedName
		Issuer             string
		Domains, Gateways  []string
		HTTP01, TLSALPN01  []string
		EABKey             string
		CABundle           string
		DNSCredentials     map[string]string
		IssuerDirectoryURL string
	}
	var sums []summary
	for _, c := range got {
		sums = append(sums, summary{
			Secret: c.Secret, Issuer: c.Issuer.Namespace + "/" + c.Issuer.Name,
			Domains: c.Domains, Gateways: c.Gateways, HTTP01: c.HTTP01Addresses, TLSALPN01: c.TLSALPN01Addresses,
			EABKey: c.EABKey, CABundle: string(c.CABundle), DNSCredentials: c.DNSCredentials, IssuerDirectoryURL: c.Issuer.Spec.DirectoryURL,
		})
	}
	want := []summary{
		{
			Secret: types.NamespacedName{Namespace: "apps", Name: "dns-tls"}, Issuer: "apps/dns",
			Domains: []string{"*.dns.example.com"}, Gateways: []string{"apps/api"},
			HTTP01: []string{"127.0.0.2:8081"}, TLSALPN01: []string{"127.0.0.2:8443"},
			CABundle:           ca,
			DNSCredentials:     map[string]string{"RFC2136_NAMESERVER": "127.0.0.1:53", "RFC2136_TSIG_KEY": "edgeway"},
			IssuerDirectoryURL: "https://acme.example/directory",
		},
		{
			// The wildcard (HTTP-01), the missing issuer, the conflicting
			// issuer, the plain certificate and the other controller's
			// Gateway are left out.
			Secret: types.NamespacedName{Namespace: "certs", Name: "site-tls"}, Issuer: "apps/letsencrypt",
			Domains: []string{"api.example.com", "example.com", "www.example.com"}, Gateways: []string{"apps/api", "apps/web"},
			HTTP01:    []string{"127.0.0.1:80", "127.0.0.1:8080", "127.0.0.2:8081"},
			TLSALPN01: []string{"127.0.0.1:443", "127.0.0.2:8443"},
			EABKey:    "c2VjcmV0LWhtYWMta2V5", CABundle: ca,
			IssuerDirectoryURL: "https://acme.example/directory",
		},
	}
	if !reflect.DeepEqual(sums, want) {
		g, _ := json.MarshalIndent(sums, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("ACMECertificates =\n%s\nwant\n%s", g, w)
	}

	// Pure and deterministic; the issuer is a copy.
	if again := ACMECertificates(snap); !reflect.DeepEqual(got, again) {
		t.Fatal("a second call differs")
	}
	got[1].Issuer.Spec.DirectoryURL = "https://changed.example/"
	for _, is := range snap.ACMEIssuers {
		if is.Spec.DirectoryURL != "https://acme.example/directory" {
			t.Fatal("ACMECertificates shares the issuer with the Snapshot")
		}
	}
	if len(ACMECertificates(nil)) != 0 || len(ACMECertificates(&snapshot.Snapshot{})) != 0 {
		t.Fatal("certificates from an empty Snapshot")
	}

	// Translation agrees: the listeners left out say why.
	_, st := Translate(snap)
	reasons := map[string]string{}
	for _, g := range st.Gateways {
		for _, l := range g.Status.Listeners {
			for _, c := range l.Conditions {
				if c.Type == snapshot.ACMECertificateReady {
					reasons[g.Name+"/"+string(l.Name)] = c.Reason
				}
			}
		}
	}
	wantReasons := map[string]string{
		"web/www": "Pending", "web/apex": "Pending", "web/wildcard": "InvalidListener", "web/nowhere": "IssuerNotFound",
		"api/api": "Pending", "api/dns": "Pending", "api/conflict": "IssuerConflict",
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Fatalf("CertificateReady reasons = %v, want %v", reasons, wantReasons)
	}
}

// In Kubernetes mode the challenge addresses are the Gateway's status
// addresses (IPAddress and Hostname; other types cannot be dialled); a
// Gateway without any yet gives none (no self-check).
func TestACMECertificatesIsolated(t *testing.T) {
	snap := parseSnapshot(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: apps}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: www.example.com
    tls:
      certificateRefs: [{name: www-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
status:
  addresses:
  - {type: IPAddress, value: 192.0.2.7}
  - {type: Hostname, value: lb.example.net}
  - {type: example.com/named, value: pool-1}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: fresh, namespace: apps}
spec:
  gatewayClassName: edgeway
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: fresh.example.com
    tls:
      certificateRefs: [{name: fresh-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: letsencrypt, namespace: apps}
spec: {directoryURL: "https://acme.example/directory"}
`)
	snap.IsolateGateways = true
	got := ACMECertificates(snap)
	// Gateway fresh has no address yet: nothing is ordered for it (the CA
	// could not reach it), and its listener says what it waits for.
	if len(got) != 1 {
		t.Fatalf("got %d certificates, want 1 (www only): %+v", len(got), got)
	}
	www := got[0]
	_, statuses := Translate(snap)
	var freshReady string
	for _, gs := range statuses.Gateways {
		if gs.Name != "fresh" {
			continue
		}
		for _, c := range gs.Status.Listeners[0].Conditions {
			if c.Type == snapshot.ACMECertificateReady {
				freshReady = c.Reason + ": " + c.Message
			}
		}
	}
	if !strings.HasPrefix(freshReady, "Pending: waiting for Gateway apps/fresh to get an address from its load balancer") {
		t.Errorf("fresh CertificateReady = %q", freshReady)
	}
	if !reflect.DeepEqual(www.HTTP01Addresses, []string{"192.0.2.7:80", "lb.example.net:80"}) ||
		!reflect.DeepEqual(www.TLSALPN01Addresses, []string{"192.0.2.7:443", "lb.example.net:443"}) {
		t.Errorf("www addresses = %v, %v", www.HTTP01Addresses, www.TLSALPN01Addresses)
	}
}

// A renewed certificate (same Secret, new content) changes only that SDS
// Secret: listeners and route tables stay identical, so the data plane
// never rebuilds a listener for a renewal.
func TestACMERenewalChangesOnlyTheSecret(t *testing.T) {
	snap := parseSnapshot(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: foo.example.com
    tls:
      certificateRefs: [{name: foo-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: letsencrypt, namespace: default}
spec: {directoryURL: "https://acme.example/directory"}
`)
	issued := func(certName string, st snapshot.ACMEState) *snapshot.Snapshot {
		s := *snap
		crt, key := testCert(t, certName)
		cert := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte(crt), corev1.TLSPrivateKeyKey: []byte(key)}}
		cert.Namespace, cert.Name = "default", "foo-tls"
		state, err := snapshot.EncodeACMEState(types.NamespacedName{Namespace: "default", Name: "foo-tls"}, &st)
		if err != nil {
			t.Fatal(err)
		}
		s.Secrets = []*corev1.Secret{cert, state}
		s.Sort()
		return &s
	}
	ready := snapshot.ACMEState{Issuer: "default/letsencrypt", Domains: []string{"foo.example.com"}, Phase: snapshot.ACMEReady, Reason: "Issued", Message: "issued"}
	before, stBefore := Translate(issued("foo", ready))
	ready.Reason, ready.Message = "Renewed", "renewed"
	after, stAfter := Translate(issued("other", ready))
	if err := after.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Listeners, after.Listeners) || !reflect.DeepEqual(before.RouteTables, after.RouteTables) || !reflect.DeepEqual(before.Clusters, after.Clusters) {
		t.Fatal("a renewal changed listeners, route tables or clusters")
	}
	if len(before.Secrets) != 1 || len(after.Secrets) != 1 || before.Secrets[0].Name != after.Secrets[0].Name || before.Secrets[0].CertChain == after.Secrets[0].CertChain {
		t.Fatalf("secrets before %v, after %v: want the one Secret with new content", names(before.Secrets), names(after.Secrets))
	}
	cond := func(st *Statuses) string {
		for _, c := range st.Gateways[0].Status.Listeners[1].Conditions {
			if c.Type == snapshot.ACMECertificateReady {
				return string(c.Status) + " " + c.Reason + " " + c.Message
			}
		}
		return ""
	}
	if cond(stBefore) != "True Issued issued" || cond(stAfter) != "True Renewed renewed" {
		t.Fatalf("CertificateReady before %q, after %q", cond(stBefore), cond(stAfter))
	}
}

func names(ss []*ir.Secret) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// The listener status stays within Gateway API's limit of 8 conditions and
// the condition's reason and message within metav1.Condition's.
func TestACMEConditionLimits(t *testing.T) {
	snap := parseSnapshot(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: edgeway
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: foo.example.com
    tls:
      certificateRefs: [{name: foo-tls}]
      options: {gateway.edgeway.dev/acme-issuer: letsencrypt}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: letsencrypt, namespace: default}
spec: {directoryURL: "https://acme.example/directory"}
`)
	st := snapshot.ACMEState{Issuer: "default/letsencrypt", Domains: []string{"foo.example.com"}, Phase: snapshot.ACMEFailed,
		Reason: "not a reason!", Message: strings.Repeat("é", maxConditionMessage)}
	state, err := snapshot.EncodeACMEState(types.NamespacedName{Namespace: "default", Name: "foo-tls"}, &st)
	if err != nil {
		t.Fatal(err)
	}
	snap.Secrets = append(snap.Secrets, state)
	_, statuses := Translate(snap)
	conds := statuses.Gateways[0].Status.Listeners[0].Conditions
	if len(conds) > maxListenerConditions {
		t.Fatalf("%d listener conditions", len(conds))
	}
	c := conds[len(conds)-1]
	if c.Type != snapshot.ACMECertificateReady || c.Reason != "Failed" || len(c.Message) > maxConditionMessage || !strings.HasSuffix(c.Message, "é...") {
		t.Fatalf("condition %s %s, message of %d bytes ending %q", c.Type, c.Reason, len(c.Message), c.Message[len(c.Message)-8:])
	}
}
