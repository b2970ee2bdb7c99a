package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBadInputKeepsServing: a broken file or a schema-invalid object is refused
// with file, line, object and reason while the last good config keeps serving;
// an invalid route or listener gets its status condition and everything else
// keeps serving.
func TestBadInputKeepsServing(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	httpPort, httpsPort := freePort(t), freePort(t)
	_, certPEM, keyPEM := selfSigned(t, "good.test")
	base := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: http
    protocol: HTTP
    port: %d
    allowedRoutes: {namespaces: {from: All}}
  - name: good-tls
    protocol: HTTPS
    port: %d
    hostname: good.test
    tls: {certificateRefs: [{name: good-cert}]}
  - name: bad-tls
    protocol: HTTPS
    port: %[2]d
    hostname: bad.test
    tls: {certificateRefs: [{name: missing-cert}]}
---
`, httpPort, httpsPort) + secretYAML("good-cert", certPEM, keyPEM) + serviceEntryYAML("blue", blue.port) + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: good
spec:
  parentRefs: [{name: web}]
  hostnames: [good.test]
  rules:
  - backendRefs:
` + seRef("blue", 1)
	g := startGateway(t, map[string]string{"base.yaml": base})
	c := newClient()
	url := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	serving := func(t *testing.T) {
		t.Helper()
		res, err := do(t, c, "GET", url, "good.test", nil)
		if err != nil || res.status != 200 || res.backend != "blue" {
			t.Fatalf("the good route stopped serving: %v %+v", err, res)
		}
	}
	serving(t)

	t.Run("invalid listener certificate gets a condition, the other listener serves", func(t *testing.T) {
		st := g.status()
		for _, want := range []string{"InvalidCertificateRef", "missing-cert"} {
			if !strings.Contains(st, want) {
				t.Errorf("status lacks %q:\n%s", want, st)
			}
		}
		if cn, err := peerCN(t, fmt.Sprintf("127.0.0.1:%d", httpsPort), "good.test"); err != nil || cn != "good.test" {
			t.Errorf("good HTTPS listener: %q %v", cn, err)
		}
	})

	refused := func(t *testing.T, file, content string, want ...string) {
		t.Helper()
		gen := g.generation()
		g.write(file, content)
		defer func() {
			g.remove(file)
			g.waitApplied(gen, "recovered after removing "+file)
		}()
		eventually(t, 10*time.Second, "refusal recorded", func() error {
			msg := g.report().Config.LastError
			if msg == "" {
				return fmt.Errorf("no lastError yet")
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					return fmt.Errorf("lastError %q lacks %q", msg, w)
				}
			}
			return nil
		})
		if g.generation() != gen {
			t.Errorf("a refused config must not be applied")
		}
		serving(t)
	}
	t.Run("not YAML", func(t *testing.T) {
		refused(t, "broken.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: [oops\n", "broken.yaml:4: not valid YAML")
	})
	t.Run("schema invalid", func(t *testing.T) {
		refused(t, "schema.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: bad\nspec:\n  parentRefs: [{name: web}]\n  rules:\n  - matches:\n    - path: {type: Prefix, value: /}\n",
			"schema.yaml:9", "HTTPRoute default/bad", "spec.rules[0].matches[0].path.type", "Unsupported value")
	})
	t.Run("unknown field", func(t *testing.T) {
		refused(t, "typo.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: typo\nspec:\n  parentRef: [{name: web}]\n",
			"typo.yaml:6", "HTTPRoute default/typo", "unknown field")
	})
	t.Run("unsupported kind", func(t *testing.T) {
		refused(t, "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n", "deploy.yaml:2", "unsupported kind")
	})

	t.Run("missing backend: condition and 500, others serve", func(t *testing.T) {
		g.write("missing.yaml", `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: missing
spec:
  parentRefs: [{name: web}]
  hostnames: [missing.test]
  rules:
  - backendRefs:
    - {name: does-not-exist, port: 80}
`)
		g.waitStatusContains("BackendNotFound")
		g.expectServed(c, url, "missing.test", 500, "")
		serving(t)
	})

	t.Run("cross-namespace backend needs a ReferenceGrant", func(t *testing.T) {
		other := `apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cross
  namespace: other
spec:
  parentRefs: [{name: web, namespace: default}]
  hostnames: [cross.test]
  rules:
  - backendRefs:
    - {group: networking.istio.io, kind: ServiceEntry, name: blue, namespace: default, port: 80}
`
		g.write("cross.yaml", other)
		g.waitStatusContains("RefNotPermitted")
		g.expectServed(c, url, "cross.test", 500, "")
		g.write("grant.yaml", `apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: allow-other
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: other}]
  to: [{group: networking.istio.io, kind: ServiceEntry}]
`)
		g.expectServed(c, url, "cross.test", 200, "blue")
		// Revocation takes effect immediately.
		g.remove("grant.yaml")
		g.expectServed(c, url, "cross.test", 500, "")
		serving(t)
	})

	t.Run("edgeway status CLI", func(t *testing.T) {
		out, err := exec.Command(edgewayBin, "status", "--admin-address", g.admin).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !strings.Contains(string(out), "kind: HTTPRoute") || !strings.Contains(string(out), "name: good") {
			t.Errorf("status output:\n%s", out)
		}
	})
}
