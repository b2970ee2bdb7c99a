package kube

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestReferencesLoseNothing: for every golden input of the translator, the
// Snapshot cut down to the referenced Services, EndpointSlices, Secrets and
// ConfigMaps translates exactly like the whole one (and the cut does remove
// objects from some inputs, so the comparison is not vacuous).
func TestReferencesLoseNothing(t *testing.T) {
	removed := 0
	defer func() {
		if removed == 0 {
			t.Error("the filter removed nothing from any golden input")
		}
	}()
	ins, err := filepath.Glob("../../gatewayapi/testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			full, err := snapshot.Parse(in, data)
			if err != nil {
				t.Fatal(err)
			}
			cut, err := snapshot.Parse(in, data)
			if err != nil {
				t.Fatal(err)
			}
			before := len(cut.Services) + len(cut.EndpointSlices) + len(cut.Secrets) + len(cut.ConfigMaps)
			collectReferences(cut).filter(cut)
			removed += before - (len(cut.Services) + len(cut.EndpointSlices) + len(cut.Secrets) + len(cut.ConfigMaps))
			wantIR, wantSt := gatewayapi.Translate(full)
			gotIR, gotSt := gatewayapi.Translate(cut)
			if !reflect.DeepEqual(wantIR, gotIR) {
				t.Error("IR differs when only referenced objects are in the Snapshot")
			}
			if !reflect.DeepEqual(wantSt, gotSt) {
				t.Error("statuses differ when only referenced objects are in the Snapshot")
			}
		})
	}
}

// An unreferenced Secret, ConfigMap and Service are left out; referenced
// ones stay, even in other namespaces.
func TestReferencesFilterDropsUnreferenced(t *testing.T) {
	const doc = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: a}
spec:
  gatewayClassName: x
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: cert, namespace: b}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: a}
spec:
  rules:
  - backendRefs: [{name: svc, port: 80}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: mirror, namespace: c, port: 80}}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: b}
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: a}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: a}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: mirror, namespace: c}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: a}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other-1, namespace: a, labels: {kubernetes.io/service-name: other}}
addressType: IPv4
endpoints: []
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1, namespace: a, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
endpoints: []
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-root-ca.crt, namespace: a}
`
	s, err := snapshot.Parse("refs.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	collectReferences(s).filter(s)
	var got []string
	for _, o := range s.Secrets {
		got = append(got, "secret "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.Services {
		got = append(got, "service "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.EndpointSlices {
		got = append(got, "slice "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.ConfigMaps {
		got = append(got, "configmap "+o.Namespace+"/"+o.Name)
	}
	want := []string{"secret b/cert", "service a/svc", "service c/mirror", "slice a/svc-1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

// For ACME listeners the Snapshot holds the state Secret beside the
// certificate Secret and the issuer's EAB key, CA bundle and DNS
// credentials; the state Secrets of other certificates stay out.
func TestReferencesACME(t *testing.T) {
	const doc = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: a}
spec:
  gatewayClassName: x
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: www.example.com
    tls:
      certificateRefs: [{name: cert, namespace: b}]
      options: {gateway.edgeway.dev/acme-issuer: le}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: le, namespace: a}
spec:
  directoryURL: https://acme.example/directory
  externalAccountBinding: {keyID: k, keySecretRef: {name: eab, key: hmac}}
  caBundleRef: {kind: ConfigMap, name: ca, key: ca.crt}
  challenge: DNS01
  dns01: {provider: rfc2136, credentialsSecretRef: {name: dns}}
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: unused, namespace: a}
spec:
  directoryURL: https://acme.example/directory
  externalAccountBinding: {keyID: k, keySecretRef: {name: unused-eab, key: hmac}}
---
apiVersion: v1
kind: Secret
metadata: {name: cert-acme-state, namespace: b}
---
apiVersion: v1
kind: Secret
metadata: {name: other-acme-state, namespace: b}
---
apiVersion: v1
kind: Secret
metadata: {name: eab, namespace: a}
---
apiVersion: v1
kind: Secret
metadata: {name: unused-eab, namespace: a}
---
apiVersion: v1
kind: Secret
metadata: {name: dns, namespace: a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: a}
`
	s, err := snapshot.Parse("refs.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	collectReferences(s).filter(s)
	var got []string
	for _, o := range s.Secrets {
		got = append(got, "secret "+o.Namespace+"/"+o.Name)
	}
	for _, o := range s.ConfigMaps {
		got = append(got, "configmap "+o.Namespace+"/"+o.Name)
	}
	want := []string{"secret a/dns", "secret a/eab", "secret b/cert-acme-state", "configmap a/ca"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}
