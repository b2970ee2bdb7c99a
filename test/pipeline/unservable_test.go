package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestUnservableValuesCostOnlyTheirObject: values the CRD schemas accept
// but the data plane cannot serve (found by an audit of every rule of
// ir.Validate, and by FuzzEditedConfigurationCompiles). Each once made an
// IR or xDS the server refused whole: every later change of that data
// plane (standalone: of every Gateway) stopped until the object was fixed.
// Now each is reported on its object's status, naming the field (status),
// or served (status ""), and whatever is published compiles.
func TestUnservableValuesCostOnlyTheirObject(t *testing.T) {
	long := strings.Repeat("a", 64)
	name253 := strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a"
	cases := []struct {
		name, yaml, status string
	}{
		{"empty path regex", withRule(`  - matches: [{path: {type: RegularExpression, value: ""}}]
    backendRefs: [{name: echo, port: 8080}]
`), "regular expression must not be empty"},
		{"header name with a space removed", withRule(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {remove: ["bad header"]}}]
    backendRefs: [{name: echo, port: 8080}]
`), `\"bad header\" is not a valid header name`},
		{"empty header name removed", withRule(`  - filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [""]}}]
    backendRefs: [{name: echo, port: 8080}]
`), `\"\" is not a valid header name`},
		{"redirect hostname with a long label", withRule(`  - filters: [{type: RequestRedirect, requestRedirect: {hostname: ` + long + `.example.com}}]
`), "redirect.hostname"},
		{"rewrite hostname with a long label", withRule(`  - filters: [{type: URLRewrite, urlRewrite: {hostname: ` + long + `.example.com}}]
    backendRefs: [{name: echo, port: 8080}]
`), "rewrite.hostname"},
		{"rewrite full path without a slash", withRule(`  - filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: "foo?x"}}}]
    backendRefs: [{name: echo, port: 8080}]
`), "rewrite.fullPath"},
		{"redirect prefix without a slash", withRule(`  - matches: [{path: {type: PathPrefix, value: /a}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: "foo"}}}]
`), "redirect.replacePrefixMatch"},
		{"Host set", withRule(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: Host, value: foo.example}]}}]
    backendRefs: [{name: echo, port: 8080}]
`), "requestHeaderModifier.set[0]: the Host header cannot be changed"},
		{"Host removed", withRule(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {remove: [host]}}]
    backendRefs: [{name: echo, port: 8080}]
`), "requestHeaderModifier.remove[0]: the Host header"},
		{"Host added to a response", withRule(`  - filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: HOST, value: x}]}}]
    backendRefs: [{name: echo, port: 8080}]
`), "responseHeaderModifier.add[0]: the Host header"},
		{"Host set by a backendRef filter", withRule(`  - backendRefs:
    - name: echo
      port: 8080
      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: host, value: x}]}}]
`), "backendRefs[0].filters[0].requestHeaderModifier.set[0]: the Host header"},
		{"route hostname with a long label", strings.Replace(withRule(`  - backendRefs: [{name: echo, port: 8080}]
`), "  parentRefs:", "  hostnames: ["+long+".example.com]\n  parentRefs:", 1), "spec.hostnames[0]"},
		{"listener hostname with a long label", strings.Replace(withRule(`  - backendRefs: [{name: echo, port: 8080}]
`), "    protocol: HTTP\n", "    protocol: HTTP\n    hostname: \"*."+long+".com\"\n", 1), "spec.listeners[0].hostname"},
		{"HTTPS listener hostname with a long label", golden(t, "https-sni.in.yaml", "hostname: foo.example.com", "hostname: "+long+".example.com"), ".hostname: \\\"" + long},
		{"TLSRoute hostname with a long label", golden(t, "tls-passthrough.in.yaml", `hostnames: ["*.db.example.com"]`, `hostnames: ["`+long+`.db.example.com"]`), "spec.hostnames[0]"},
		{"BackendTLSPolicy hostname with a long label", golden(t, "backend-tls.in.yaml", "hostname: secure.internal", "hostname: "+long+".internal"), "spec.validation.hostname"},
		{"ExternalName with a long label", externalNameRoute(long + ".example.com"), "spec.externalName"},
		{"ExternalName of 253 characters, fully qualified", externalNameRoute(name253 + "."), ""},
		{"DNS ServiceEntry endpoint of 253 characters, fully qualified", dnsServiceEntryRoute(name253 + "."), ""},
		{"mesh ServiceEntry host, fully qualified", golden(t, "mesh-serviceentry.in.yaml", `hosts: ["*.payments.vms.internal", "payments.vms.internal"]`, `hosts: ["payments.vms.internal."]`), ""},
		{"mesh ServiceEntry host no SNI can name", golden(t, "mesh-serviceentry.in.yaml", `hosts: ["*.payments.vms.internal", "payments.vms.internal"]`, `hosts: ["pay ments"]`), "Istio's TLS server name"},
		{"mesh ServiceEntry host too long for an SNI", golden(t, "mesh-serviceentry.in.yaml", `hosts: ["*.payments.vms.internal", "payments.vms.internal"]`, `hosts: ["`+strings.Repeat(strings.Repeat("a", 60)+".", 4)+`com"]`), "Istio's TLS server name"},
		{"mesh cluster domain with an empty label", golden(t, "mesh-tls.in.yaml", "    caSecretRef: {name: cacerts}\n", "    clusterDomain: cluster..local\n    caSecretRef: {name: cacerts}\n"), "spec.mesh.clusterDomain"},
		// Each label fits and the domain fits, but not in an SNI with the
		// service and namespace: the route's backendRef is refused.
		{"mesh cluster domain too long for an SNI", golden(t, "mesh-tls.in.yaml", "    caSecretRef: {name: cacerts}\n", "    clusterDomain: "+strings.Repeat(strings.Repeat("a", 60)+".", 4)+"local\n    caSecretRef: {name: cacerts}\n"), "over the 253 a server name may have"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := snapshot.Parse("case.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("the loader refused the case (the case must be schema-valid): %v", err)
			}
			checkAccepted(t, []byte(tc.yaml))
			_, statuses := gatewayapi.Translate(snap)
			out, err := json.Marshal(statuses) // messages on one line, quotes as \"
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != "" && !strings.Contains(string(out), tc.status) {
				t.Errorf("no status names it (want %q):\n%s", tc.status, out)
			}
		})
	}
}

const unservableBase = `apiVersion: gateway.networking.k8s.io/v1
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
  - name: http
    port: 80
    protocol: HTTP
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports: [{name: http, port: 8080, targetPort: 9090}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-abc
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: 9090}]
endpoints: [{addresses: [10.0.0.2]}]
`

// withRule is the base with one HTTPRoute whose rules are rules.
func withRule(rules string) string {
	return unservableBase + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs:
  - name: web
  rules:
` + rules
}

func externalNameRoute(externalName string) string {
	return withRule(`  - backendRefs: [{name: ext, port: 80}]
`) + `---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  type: ExternalName
  externalName: "` + externalName + `"
  ports: [{port: 80}]
`
}

func dnsServiceEntryRoute(address string) string {
	return withRule(`  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: ext, port: 80}]
`) + `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [ext.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: "` + address + `"}]
`
}

// golden is a golden input of the translator with each old string of
// replace replaced by the new one after it.
func golden(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "controller", "gatewayapi", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("%s has no %q to replace", name, replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}
