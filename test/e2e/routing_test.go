package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPRouting covers every HTTP routing feature of the foundation through
// the real binary: hostnames and listener-hostname intersection, path types,
// header/query/method matches, precedence, weights, header modifiers,
// redirects, rewrites and 404.
func TestHTTPRouting(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	green := startHTTPBackend(t, "green")
	red := startHTTPBackend(t, "red")
	httpPort := freePort(t)
	wildPort := freePort(t)

	config := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  addresses:
  - type: IPAddress
    value: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    port: %d
  - name: wild
    protocol: HTTP
    port: %d
    hostname: "*.wild.test"
---
`, httpPort, wildPort) + serviceEntryYAML("blue", blue.port) + serviceEntryYAML("green", green.port) + serviceEntryYAML("red", red.port) +
		`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: paths
spec:
  parentRefs:
  - name: web
    sectionName: http
  hostnames: [paths.test]
  rules:
  - matches:
    - path: {type: Exact, value: /exact}
    backendRefs:
` + seRef("blue", 1) + `  - matches:
    - path: {type: PathPrefix, value: /prefix}
    backendRefs:
` + seRef("green", 1) + `  - matches:
    - path: {type: RegularExpression, value: "/re/[0-9]+"}
    backendRefs:
` + seRef("red", 1) + `  - matches:
    - path: {type: PathPrefix, value: /prefix/longer}
    backendRefs:
` + seRef("red", 1) + `  - matches:
    - path: {type: PathPrefix, value: /m}
      headers:
      - {name: x-color, value: blue}
    backendRefs:
` + seRef("blue", 1) + `  - matches:
    - path: {type: PathPrefix, value: /m}
      queryParams:
      - {name: color, value: green}
    backendRefs:
` + seRef("green", 1) + `  - matches:
    - path: {type: PathPrefix, value: /m}
      method: POST
    backendRefs:
` + seRef("red", 1) + `  - matches:
    - path: {type: PathPrefix, value: /m}
      headers:
      - {name: x-re, type: RegularExpression, value: "^v[0-9]$"}
    backendRefs:
` + seRef("green", 1) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: hosts
spec:
  parentRefs:
  - name: web
  hostnames: ["exact.test", "*.wildcard.test", "a.wild.test", "*.any.test"]
  rules:
  - backendRefs:
` + seRef("blue", 1) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: filters
spec:
  parentRefs:
  - name: web
    sectionName: http
  hostnames: [filters.test]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /headers}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Set, value: set-value}]
        add: [{name: X-Add, value: added}]
        remove: [X-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: X-Resp, value: resp-value}]
        remove: [X-Seen-Path]
    backendRefs:
` + seRef("blue", 1) + `  - matches:
    - path: {type: PathPrefix, value: /redirect}
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: https
        hostname: elsewhere.test
        port: 8443
        statusCode: 301
  - matches:
    - path: {type: PathPrefix, value: /old}
    filters:
    - type: RequestRedirect
      requestRedirect:
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}
        statusCode: 302
  - matches:
    - path: {type: PathPrefix, value: /strip}
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /}
    backendRefs:
` + seRef("green", 1) + `  - matches:
    - path: {type: PathPrefix, value: /swap}
    filters:
    - type: URLRewrite
      urlRewrite:
        hostname: rewritten.test
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /other}
    backendRefs:
` + seRef("green", 1) + `  - matches:
    - path: {type: PathPrefix, value: /full}
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {type: ReplaceFullPath, replaceFullPath: /replaced}
    backendRefs:
` + seRef("red", 1) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: canary
spec:
  parentRefs:
  - name: web
    sectionName: http
  hostnames: [canary.test]
  rules:
  - backendRefs:
` + seRef("blue", 80) + seRef("green", 20) + seRef("red", 0)

	g := startGateway(t, map[string]string{"config.yaml": config})
	c := newClient()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	wild := fmt.Sprintf("http://127.0.0.1:%d", wildPort)

	type check struct {
		name, method, url, host string
		headers                 map[string]string
		status                  int
		backend                 string
		respHeaders             map[string]string // "" value: must be absent
	}
	checks := []check{
		// Paths.
		{name: "exact", url: base + "/exact", host: "paths.test", status: 200, backend: "blue"},
		{name: "exact does not match longer", url: base + "/exact/more", host: "paths.test", status: 404},
		{name: "prefix", url: base + "/prefix", host: "paths.test", status: 200, backend: "green"},
		{name: "prefix segment", url: base + "/prefix/x", host: "paths.test", status: 200, backend: "green"},
		{name: "prefix is segment-aware", url: base + "/prefixes", host: "paths.test", status: 404},
		{name: "longest prefix wins over rule order", url: base + "/prefix/longer/x", host: "paths.test", status: 200, backend: "red"},
		{name: "regex", url: base + "/re/123", host: "paths.test", status: 200, backend: "red"},
		{name: "regex is a full match", url: base + "/re/12a", host: "paths.test", status: 404},
		{name: "host with port and case", url: base + "/exact", host: "PATHS.test:1234", status: 200, backend: "blue"},
		// Matches.
		{name: "header", url: base + "/m", host: "paths.test", headers: map[string]string{"X-Color": "blue"}, status: 200, backend: "blue"},
		{name: "query", url: base + "/m?color=green", host: "paths.test", status: 200, backend: "green"},
		{name: "method", method: "POST", url: base + "/m", host: "paths.test", status: 200, backend: "red"},
		{name: "header regex", url: base + "/m", host: "paths.test", headers: map[string]string{"X-Re": "v7"}, status: 200, backend: "green"},
		{name: "no match", url: base + "/m", host: "paths.test", status: 404},
		// Hostnames.
		{name: "exact host", url: base + "/", host: "exact.test", status: 200, backend: "blue"},
		{name: "wildcard host", url: base + "/", host: "a.b.wildcard.test", status: 200, backend: "blue"},
		{name: "wildcard needs a label", url: base + "/", host: "wildcard.test", status: 404},
		{name: "unknown host", url: base + "/", host: "nope.test", status: 404},
		// Listener "*.wild.test" intersected with the route's hostnames: only
		// a.wild.test survives; exact.test is not served on that listener.
		{name: "intersection keeps a.wild.test", url: wild + "/", host: "a.wild.test", status: 200, backend: "blue"},
		{name: "intersection drops exact.test", url: wild + "/", host: "exact.test", status: 404},
		{name: "intersection drops other wild names", url: wild + "/", host: "b.wild.test", status: 404},
		// Filters.
		{name: "response headers", url: base + "/headers", host: "filters.test", headers: map[string]string{"X-Remove": "x", "X-Add": "orig"}, status: 200, backend: "blue",
			respHeaders: map[string]string{"X-Resp": "resp-value", "X-Seen-Path": "", "X-Seen-Header-X-Set": "set-value", "X-Seen-Header-X-Remove": "", "X-Seen-Header-X-Add": "orig,added"}},
		{name: "redirect", url: base + "/redirect/a?q=1", host: "filters.test", status: 301,
			respHeaders: map[string]string{"Location": "https://elsewhere.test:8443/redirect/a?q=1"}},
		{name: "redirect prefix", url: base + "/old/page", host: "filters.test", status: 302,
			respHeaders: map[string]string{"Location": "http://filters.test/new/page"}},
		{name: "rewrite prefix to /", url: base + "/strip/a/b?x=1", host: "filters.test", status: 200, backend: "green",
			respHeaders: map[string]string{"X-Seen-Path": "/a/b?x=1"}},
		{name: "rewrite prefix exact", url: base + "/strip", host: "filters.test", status: 200, backend: "green",
			respHeaders: map[string]string{"X-Seen-Path": "/"}},
		{name: "rewrite host and prefix", url: base + "/swap/z", host: "filters.test", status: 200, backend: "green",
			respHeaders: map[string]string{"X-Seen-Path": "/other/z", "X-Seen-Host": "rewritten.test"}},
		{name: "rewrite full path", url: base + "/full/a?k=v", host: "filters.test", status: 200, backend: "red",
			respHeaders: map[string]string{"X-Seen-Path": "/replaced?k=v"}},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			method := ck.method
			if method == "" {
				method = http.MethodGet
			}
			res, err := do(t, c, method, ck.url, ck.host, ck.headers)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != ck.status {
				t.Fatalf("status %d, want %d (body %q)", res.status, ck.status, res.body)
			}
			if res.backend != ck.backend {
				t.Errorf("backend %q, want %q", res.backend, ck.backend)
			}
			for k, want := range ck.respHeaders {
				got := strings.Join(res.header.Values(k), ",")
				if got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}

	t.Run("weights 80/20/0", func(t *testing.T) {
		counts := map[string]int{}
		const n = 1000
		for i := 0; i < n; i++ {
			res, err := do(t, c, "GET", base+"/", "canary.test", nil)
			if err != nil {
				t.Fatal(err)
			}
			counts[res.backend]++
		}
		if counts["red"] != 0 {
			t.Errorf("weight 0 backend got %d requests", counts["red"])
		}
		if share := float64(counts["blue"]) / n; math.Abs(share-0.8) > 0.05 {
			t.Errorf("blue share %.3f, want 0.80±0.05 (counts %v)", share, counts)
		}
	})

	t.Run("status shows every route accepted", func(t *testing.T) {
		st := g.status()
		for _, name := range []string{"paths", "hosts", "filters", "canary"} {
			if !strings.Contains(st, "name: "+name) {
				t.Errorf("status does not list route %s", name)
			}
		}
		if bad := failingConditions(t, st); len(bad) > 0 {
			t.Errorf("conditions report problems: %v", bad)
		}
	})
}
