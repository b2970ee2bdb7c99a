package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validConfig = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: edgeway
spec:
  controllerName: edgeway.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
  namespace: team-a
spec:
  parentRefs:
  - name: web
    namespace: default
  rules:
  - backendRefs:
    - name: app
      port: 80
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ext
spec:
  hosts: [ext.example.com]
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
---
apiVersion: v1
kind: Secret
metadata:
  name: cert
type: kubernetes.io/tls
stringData:
  tls.crt: "x"
  tls.key: "y"
`

func TestParseValidAppliesDefaults(t *testing.T) {
	snap, err := Parse("valid.yaml", []byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.GatewayClasses) != 1 || len(snap.Gateways) != 1 || len(snap.HTTPRoutes) != 1 || len(snap.ServiceEntries) != 1 || len(snap.Secrets) != 1 {
		t.Fatalf("unexpected counts: %+v", snap)
	}
	gw := snap.Gateways[0]
	if gw.Namespace != "default" || gw.Generation != 1 {
		t.Errorf("gateway namespace/generation not defaulted: %q %d", gw.Namespace, gw.Generation)
	}
	// CRD defaults, as the API server applies them.
	if ar := gw.Spec.Listeners[0].AllowedRoutes; ar == nil || ar.Namespaces == nil || ar.Namespaces.From == nil || *ar.Namespaces.From != "Same" {
		t.Errorf("allowedRoutes default not applied: %+v", ar)
	}
	rule := snap.HTTPRoutes[0].Spec.Rules[0]
	if len(rule.Matches) != 1 || rule.Matches[0].Path == nil || *rule.Matches[0].Path.Value != "/" {
		t.Errorf("default path match not applied: %+v", rule.Matches)
	}
	if w := rule.BackendRefs[0].Weight; w == nil || *w != 1 {
		t.Errorf("default weight not applied: %v", w)
	}
	if string(snap.Secrets[0].Data["tls.crt"]) != "x" {
		t.Errorf("stringData not folded into data")
	}
	if got := snap.ServiceEntries[0].Spec.Hosts; len(got) != 1 || got[0] != "ext.example.com" {
		t.Errorf("service entry hosts: %v", got)
	}
}

func TestParseErrorsNameFileLineObjectAndReason(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{
			name: "not yaml",
			doc:  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n\tbad: 1\n",
			want: []string{"bad.yaml:", "not valid YAML: found a tab character"},
		},
		{
			name: "not yaml, second document",
			doc:  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: [oops\n",
			want: []string{"bad.yaml:9: not valid YAML: did not find expected"},
		},
		{
			name: "unknown field",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: web\nspec:\n  gatewayClassName: edgeway\n  listenrs: []\n",
			want: []string{"bad.yaml:7: Gateway default/web:", `unknown field "listenrs"`},
		},
		{
			name: "schema: port out of range",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: web\nspec:\n  gatewayClassName: edgeway\n  listeners:\n  - name: http\n    protocol: HTTP\n    port: 70000\n",
			want: []string{"bad.yaml:10: Gateway default/web:", "spec.listeners[0].port", "65535"},
		},
		{
			name: "schema: CEL rule",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: web\nspec:\n  gatewayClassName: edgeway\n  listeners:\n  - name: tcp\n    protocol: TCP\n    port: 9000\n    hostname: foo.example.com\n",
			want: []string{"Gateway default/web:", "hostname"},
		},
		{
			name: "wrong type",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: web\nspec:\n  gatewayClassName: edgeway\n  listeners:\n  - name: http\n    protocol: HTTP\n    port: eighty\n",
			want: []string{"bad.yaml:10: Gateway default/web:", "spec.listeners[0].port"},
		},
		{
			name: "unsupported kind",
			doc:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n",
			want: []string{"bad.yaml:2: Deployment default/x:", `unsupported kind "Deployment"`, "HTTPRoute"},
		},
		{
			name: "second document",
			doc:  validConfig + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\nspec:\n  rules:\n  - matches:\n    - path:\n        type: Nope\n        value: /\n",
			want: []string{"bad.yaml:", "HTTPRoute default/r:", "Nope", "PathPrefix"},
		},
		{
			name: "tls secret without key",
			doc:  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n",
			want: []string{"Secret default/c:", `"tls.key"`},
		},
		{
			// The API server refuses it; translated, the alias would be a
			// DNS endpoint the IR refuses, and with it every Gateway's
			// configuration (found by test/pipeline's fuzzer).
			name: "ExternalName that is no DNS name",
			doc:  "apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  type: ExternalName\n  externalName: \"*.example.com\"\n  ports:\n  - port: 80\n",
			want: []string{"bad.yaml:7: Service default/ext:", "spec.externalName", `"*.example.com"`, "DNS name"},
		},
		{
			// The API server refuses it; a dotted name made a mesh SNI
			// (outbound_.<port>_._.<name>.<ns>.svc...) the IR refuses.
			name: "Service name that is no DNS label",
			doc:  "apiVersion: v1\nkind: Service\nmetadata:\n  name: a.b\nspec:\n  ports:\n  - port: 80\n",
			want: []string{"bad.yaml:", "Service default/a.b:", "metadata.name", "DNS label"},
		},
		{
			name: "duplicate",
			doc:  "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n",
			want: []string{"bad.yaml:8: Secret default/c: defined more than once (first at bad.yaml:1)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseSecondDocumentLine(t *testing.T) {
	doc := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n  bogus: 1\n"
	_, err := Parse("f.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:10: Namespace b:") {
		t.Fatalf("want line 10 of the file, got %v", err)
	}
}

func TestLoadDirRefusesWholeDirectoryOnAnyError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(validConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := LoadDir(dir)
	if err != nil || len(snap.Gateways) != 1 {
		t.Fatalf("LoadDir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "b.yml") {
		t.Fatalf("want error naming b.yml, got %v", err)
	}
	if _, err := LoadDir(t.TempDir()); err == nil {
		t.Fatal("empty dir must be an error")
	}
}
