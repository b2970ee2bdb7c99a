package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptBackend is a backend whose behaviour the request chooses, keyed by
// the X-Key header: X-Fail-Times: N answers the first N requests of a key
// with 503; X-Hang-First answers the first request of a key only when the
// proxy gives up on it. It records the Host and body of every request.
type scriptBackend struct {
	name string
	port int
	mu   sync.Mutex
	seen map[string]int // requests per key
	log  []seenRequest
}

type seenRequest struct {
	key, host, path, body string
	header                http.Header
}

func startScriptBackend(t *testing.T, name string) *scriptBackend {
	t.Helper()
	b := &scriptBackend{name: name, seen: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Header.Get("X-Key")
		b.mu.Lock()
		b.seen[key]++
		n := b.seen[key]
		b.log = append(b.log, seenRequest{key: key, host: r.Host, path: r.URL.Path, body: string(body), header: r.Header.Clone()})
		b.mu.Unlock()
		if r.Header.Get("X-Hang-First") != "" && n == 1 {
			<-r.Context().Done()
			return
		}
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Attempt", strconv.Itoa(n))
		w.Header().Set("X-Seen-Header-X-Via", r.Header.Get("X-Via"))
		if f, _ := strconv.Atoi(r.Header.Get("X-Fail-Times")); n <= f {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s %s", name, body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// requests returns what the backend received for key.
func (b *scriptBackend) requests(key string) []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []seenRequest
	for _, r := range b.log {
		if r.key == key {
			out = append(out, r)
		}
	}
	return out
}

// twoEndpointSE is a ServiceEntry whose endpoints are a dead port and a
// live backend: round-robin alternates between them.
func twoEndpointSE(name string, dead, live int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %s
spec:
  hosts: [%s.internal]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %d}}
  - {address: 127.0.0.1, ports: {http: %d}}
---
`, name, name, dead, live)
}

func send(t *testing.T, c *http.Client, method, url, host, body string, hdr map[string]string) *result {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &result{status: resp.StatusCode, header: resp.Header, body: string(b), backend: resp.Header.Get("X-Backend")}
}

// TestRouteFeatures drives every route feature of issue 3 through the real
// binary: timeouts, retries (status codes, connection errors, per-try
// timeout), mirrors, CORS, backendRef header filters, named rules and
// redirect port/scheme combinations.
func TestRouteFeatures(t *testing.T) {
	main := startScriptBackend(t, "main")
	alt := startScriptBackend(t, "alt")
	shadow := startScriptBackend(t, "shadow")
	shadow2 := startScriptBackend(t, "shadow2")
	dead := freePort(t)
	port := freePort(t)

	se := serviceEntryYAML("main", main.port) + serviceEntryYAML("alt", alt.port) + serviceEntryYAML("shadow", shadow.port) +
		serviceEntryYAML("shadow2", shadow2.port) + twoEndpointSE("half", dead, main.port)
	mirrorRef := func(name string) string {
		return fmt.Sprintf("{group: networking.istio.io, kind: ServiceEntry, name: %s, port: 80}", name)
	}
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
---
`, port) + se + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: features
spec:
  parentRefs: [{name: web}]
  hostnames: [features.test]
  rules:
  - name: timeouts
    matches: [{path: {value: /timeout}}]
    timeouts: {request: 1s}
    backendRefs:
` + seRef("main", 1) + `  - matches: [{path: {value: /per-try}}]
    timeouts: {request: 10s, backendRequest: 1s}
    retry: {attempts: 1, backoff: 10ms}
    backendRefs:
` + seRef("main", 1) + `  - matches: [{path: {value: /retry}}]
    retry: {codes: [503], attempts: 3, backoff: 10ms}
    backendRefs:
` + seRef("main", 1) + `  - matches: [{path: {value: /no-retry}}]
    backendRefs:
` + seRef("main", 1) + `  - matches: [{path: {value: /retry-conn}}]
    retry: {attempts: 1, backoff: 10ms}
    backendRefs:
` + seRef("half", 1) + `  - matches: [{path: {value: /no-retry-conn}}]
    backendRefs:
` + seRef("half", 1) + `  - matches: [{path: {value: /mirror}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: ` + mirrorRef("shadow") + `}
    - type: RequestMirror
      requestMirror: {backendRef: ` + mirrorRef("shadow2") + `, fraction: {numerator: 1, denominator: 1}}
    backendRefs:
` + seRef("main", 1) + `  - matches: [{path: {value: /cors}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://app.example", "https://*.example.com"]
        allowMethods: [GET, PUT]
        allowHeaders: [X-Custom]
        exposeHeaders: [X-Exposed]
        maxAge: 600
        allowCredentials: true
    backendRefs:
` + seRef("main", 1) + `  - name: per-backend
    matches: [{path: {value: /backend-headers}}]
    backendRefs:
    - group: networking.istio.io
      kind: ServiceEntry
      name: main
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: X-Via, value: to-main}]}
      - type: ResponseHeaderModifier
        responseHeaderModifier: {set: [{name: X-Picked, value: main}]}
    - group: networking.istio.io
      kind: ServiceEntry
      name: alt
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: X-Via, value: to-alt}]}
      - type: ResponseHeaderModifier
        responseHeaderModifier: {set: [{name: X-Picked, value: alt}]}
  - matches: [{path: {value: /to-https}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https}
  - matches: [{path: {value: /to-https-port}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, port: 8443}
  - matches: [{path: {value: /to-port}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {port: 9090}
  - matches: [{path: {value: /to-host}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: other.test, statusCode: 301}
  - matches: [{path: {value: /to-http-80}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: http, port: 80}
`
	g := startGateway(t, map[string]string{"config.yaml": config})
	if bad := failingConditions(t, g.status()); len(bad) > 0 {
		t.Fatalf("failing conditions: %v", bad)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	host := "features.test"
	c := newClient()

	t.Run("request timeout", func(t *testing.T) {
		r := send(t, c, "GET", base+"/timeout", host, "", map[string]string{"X-Key": "t1", "X-Hang-First": "1"})
		if r.status != http.StatusGatewayTimeout {
			t.Fatalf("hanging backend: status %d, want 504", r.status)
		}
		if r := send(t, c, "GET", base+"/timeout", host, "", map[string]string{"X-Key": "t2"}); r.status != 200 {
			t.Fatalf("fast backend: status %d", r.status)
		}
	})
	t.Run("backend request timeout retried", func(t *testing.T) {
		r := send(t, c, "GET", base+"/per-try", host, "", map[string]string{"X-Key": "pt", "X-Hang-First": "1"})
		if r.status != 200 || r.header.Get("X-Attempt") != "2" {
			t.Fatalf("status %d attempt %q, want 200 from the second attempt", r.status, r.header.Get("X-Attempt"))
		}
	})
	t.Run("retry on status codes replays the body", func(t *testing.T) {
		r := send(t, c, "POST", base+"/retry", host, "hello", map[string]string{"X-Key": "r1", "X-Fail-Times": "2"})
		if r.status != 200 || r.body != "main hello" || r.header.Get("X-Attempt") != "3" {
			t.Fatalf("status %d body %q attempt %q, want 200 %q after 3 attempts", r.status, r.body, r.header.Get("X-Attempt"), "main hello")
		}
		for _, seen := range main.requests("r1") {
			if seen.body != "hello" {
				t.Fatalf("an attempt got body %q", seen.body)
			}
		}
		if r := send(t, c, "GET", base+"/retry", host, "", map[string]string{"X-Key": "r2", "X-Fail-Times": "9"}); r.status != 503 || len(main.requests("r2")) != 4 {
			t.Fatalf("exhausted: status %d after %d attempts, want 503 after 4", r.status, len(main.requests("r2")))
		}
		if r := send(t, c, "GET", base+"/no-retry", host, "", map[string]string{"X-Key": "r3", "X-Fail-Times": "1"}); r.status != 503 || len(main.requests("r3")) != 1 {
			t.Fatalf("no retry stanza: status %d after %d attempts, want 503 after 1", r.status, len(main.requests("r3")))
		}
	})
	t.Run("retry on connection errors", func(t *testing.T) {
		for i := range 6 {
			if r := send(t, c, "GET", base+"/retry-conn", host, "", nil); r.status != 200 {
				t.Fatalf("request %d: status %d, want 200 (the dead endpoint is retried on the live one)", i, r.status)
			}
		}
		failed := 0
		for range 6 {
			if send(t, c, "GET", base+"/no-retry-conn", host, "", nil).status == 503 {
				failed++
			}
		}
		if failed == 0 {
			t.Fatal("without a retry stanza the dead endpoint never failed a request; the test proves nothing")
		}
	})
	t.Run("request mirror", func(t *testing.T) {
		r := send(t, c, "POST", base+"/mirror", host, "copy", map[string]string{"X-Key": "m1"})
		if r.status != 200 || r.backend != "main" || r.body != "main copy" {
			t.Fatalf("main response %d %q %q", r.status, r.backend, r.body)
		}
		for _, b := range []*scriptBackend{shadow, shadow2} {
			eventually(t, 5*time.Second, b.name+" receives the mirror", func() error {
				got := b.requests("m1")
				if len(got) != 1 {
					return fmt.Errorf("%d mirrored requests", len(got))
				}
				if got[0].host != host+"-shadow" || got[0].body != "copy" || got[0].path != "/mirror" {
					return fmt.Errorf("mirror got Host %q path %q body %q", got[0].host, got[0].path, got[0].body)
				}
				return nil
			})
		}
	})
	t.Run("CORS", func(t *testing.T) {
		pre := send(t, c, "OPTIONS", base+"/cors", host, "", map[string]string{"X-Key": "c1", "Origin": "https://a.example.com", "Access-Control-Request-Method": "PUT"})
		for k, v := range map[string]string{"Access-Control-Allow-Origin": "https://a.example.com", "Access-Control-Allow-Methods": "GET,PUT",
			"Access-Control-Allow-Headers": "X-Custom", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true"} {
			if got := pre.header.Get(k); got != v {
				t.Errorf("preflight %s = %q, want %q", k, got, v)
			}
		}
		if pre.status != 200 || len(main.requests("c1")) != 0 {
			t.Fatalf("preflight: status %d, backend saw %d requests; want 200 from the proxy", pre.status, len(main.requests("c1")))
		}
		act := send(t, c, "GET", base+"/cors", host, "", map[string]string{"Origin": "https://app.example"})
		if act.backend != "main" || act.header.Get("Access-Control-Allow-Origin") != "https://app.example" || act.header.Get("Access-Control-Expose-Headers") != "X-Exposed" {
			t.Fatalf("actual request: %d from %q, headers %v", act.status, act.backend, act.header)
		}
		evil := send(t, c, "GET", base+"/cors", host, "", map[string]string{"Origin": "https://evil.test"})
		if evil.backend != "main" || evil.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("disallowed origin got ACAO %q", evil.header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("backendRef header filters", func(t *testing.T) {
		picked := map[string]int{}
		for range 30 {
			r := send(t, c, "GET", base+"/backend-headers", host, "", map[string]string{"X-Via": "client"})
			if r.header.Get("X-Picked") != r.backend || r.header.Get("X-Seen-Header-X-Via") != "to-"+r.backend {
				t.Fatalf("backend %q got X-Via %q, answered X-Picked %q", r.backend, r.header.Get("X-Seen-Header-X-Via"), r.header.Get("X-Picked"))
			}
			picked[r.backend]++
		}
		if picked["main"] == 0 || picked["alt"] == 0 {
			t.Fatalf("picked %v, want both backends", picked)
		}
	})
	t.Run("named rule", func(t *testing.T) {
		send(t, c, "GET", base+"/backend-headers", host, "", nil)
		eventually(t, 5*time.Second, "access log with the rule name", func() error {
			if !strings.Contains(g.logs.String(), `"route":"default/features/rule/per-backend/match/0"`) {
				return fmt.Errorf("no access log entry names rule per-backend")
			}
			return nil
		})
		out, err := exec.Command(edgewayBin, "translate", "-f", g.dir, "-o", "xds").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "name: default/features/rule/timeouts/match/0") {
			t.Fatalf("translate -o xds lacks the named route (%v):\n%s", err, out)
		}
	})
	t.Run("redirect port and scheme", func(t *testing.T) {
		hp := fmt.Sprintf("%s:%d", host, port)
		for _, tc := range []struct{ path, host, want string }{
			{"/to-https/a?q=1", hp, "https://features.test/to-https/a?q=1"},         // scheme change drops the port
			{"/to-https-port/a", hp, "https://features.test:8443/to-https-port/a"},  // explicit port kept
			{"/to-port/a", hp, "http://features.test:9090/to-port/a"},               // port only
			{"/to-host/a", hp, fmt.Sprintf("http://other.test:%d/to-host/a", port)}, // listener port kept
			{"/to-http-80/a", hp, "http://features.test/to-http-80/a"},              // well-known port omitted
			{"/to-https/b", host, "https://features.test/to-https/b"},
		} {
			r := send(t, c, "GET", base+tc.path, tc.host, "", nil)
			if r.status/100 != 3 || r.header.Get("Location") != tc.want {
				t.Errorf("%s (Host %s): %d Location %q, want %q", tc.path, tc.host, r.status, r.header.Get("Location"), tc.want)
			}
		}
	})
}
