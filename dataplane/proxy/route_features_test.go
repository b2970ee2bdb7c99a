package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// scripted is a backend answering each request with the next status of its
// script (the last one repeats), recording what it received.
type scripted struct {
	srv    *httptest.Server
	n      atomic.Int32
	mu     sync.Mutex
	bodies []string
	hosts  []string
	delay  func(n int) time.Duration
}

func startScripted(t *testing.T, statuses ...int) *scripted {
	t.Helper()
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1))
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.hosts = append(s.hosts, r.Host)
		s.mu.Unlock()
		if s.delay != nil {
			select {
			case <-time.After(s.delay(n)):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Attempt", strings.Repeat("I", n))
		w.Header().Set("X-Seen-Backend-Header", r.Header.Get("X-Backend-Header"))
		w.WriteHeader(statuses[min(n, len(statuses))-1])
		io.WriteString(w, "attempt")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) addr() string { return s.srv.Listener.Addr().String() }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func withRetry(r *routev3.Route, rp *routev3.RetryPolicy) *routev3.Route {
	r.GetRoute().RetryPolicy = rp
	return r
}

func post(t *testing.T, url, host, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRetryOnStatusReplaysBody(t *testing.T) {
	b := startScripted(t, 503, 500, 200)
	rp := &routev3.RetryPolicy{RetryOn: "retriable-status-codes,connect-failure,reset", RetriableStatusCodes: []uint32{500, 503},
		NumRetries: wrapperspb.UInt32(3), RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, withRetry(toCluster(prefixMatch("/"), "b"), rp))),
		map[string][]string{"b": {b.addr()}})
	resp, _ := post(t, base+"/x", "retry.test", "payload", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Attempt") != "III" {
		t.Fatalf("status %d after attempt %q, want 200 after the third", resp.StatusCode, resp.Header.Get("X-Attempt"))
	}
	for i, body := range b.bodies {
		if body != "payload" {
			t.Errorf("attempt %d got body %q, want the replayed %q", i+1, body, "payload")
		}
	}
}

func TestRetryExhaustedReturnsLastResponse(t *testing.T) {
	b := startScripted(t, 503)
	rp := &routev3.RetryPolicy{RetryOn: "retriable-status-codes", RetriableStatusCodes: []uint32{503}, NumRetries: wrapperspb.UInt32(2),
		RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, withRetry(toCluster(prefixMatch("/"), "b"), rp))),
		map[string][]string{"b": {b.addr()}})
	res := do(t, client(), "GET", base+"/", "x", nil)
	if res.status != 503 || b.n.Load() != 3 {
		t.Fatalf("status %d after %d attempts, want 503 after 3", res.status, b.n.Load())
	}
}

func TestRetryOnlyListedCodes(t *testing.T) {
	b := startScripted(t, 500, 200)
	rp := &routev3.RetryPolicy{RetryOn: "retriable-status-codes", RetriableStatusCodes: []uint32{503}, NumRetries: wrapperspb.UInt32(2)}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, withRetry(toCluster(prefixMatch("/"), "b"), rp))),
		map[string][]string{"b": {b.addr()}})
	if res := do(t, client(), "GET", base+"/", "x", nil); res.status != 500 || b.n.Load() != 1 {
		t.Fatalf("status %d after %d attempts, want 500 after 1 (500 is not listed)", res.status, b.n.Load())
	}
}

func TestRetryConnectFailure(t *testing.T) {
	b := startScripted(t, 200)
	dead := deadAddr(t)
	rp := &routev3.RetryPolicy{RetryOn: "connect-failure", NumRetries: wrapperspb.UInt32(1),
		RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"},
		withRetry(toCluster(prefixMatch("/retry"), "b"), rp), toCluster(prefixMatch("/"), "b"))),
		map[string][]string{"b": {dead, b.addr()}})
	c := client()
	// Round-robin alternates the dead and the live endpoint: with the
	// retry every request succeeds, without it every other one fails.
	for i := range 6 {
		if res := do(t, c, "GET", base+"/retry", "x", nil); res.status != 200 {
			t.Fatalf("request %d: status %d, want 200 (connect failure retried on the other endpoint)", i, res.status)
		}
	}
	failed := 0
	for range 6 {
		if do(t, c, "GET", base+"/plain", "x", nil).status == 503 {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d of 6 requests without retry failed, want 3", failed)
	}
}

func TestRetryNeedsReplayableBody(t *testing.T) {
	b := startScripted(t, 503, 200)
	rp := &routev3.RetryPolicy{RetryOn: "retriable-status-codes", RetriableStatusCodes: []uint32{503}, NumRetries: wrapperspb.UInt32(2)}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, withRetry(toCluster(prefixMatch("/"), "b"), rp))),
		map[string][]string{"b": {b.addr()}})
	// A chunked body (unknown length) is streamed once and never replayed.
	req, _ := http.NewRequest("POST", base+"/", io.MultiReader(strings.NewReader("chunk")))
	req.ContentLength = -1
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || b.n.Load() != 1 {
		t.Fatalf("status %d after %d attempts, want 503 after 1", resp.StatusCode, b.n.Load())
	}
	// An over-limit body neither.
	big := strings.Repeat("x", maxReplayBody+1)
	if resp, _ := post(t, base+"/", "x", big, nil); resp.StatusCode != 200 || b.n.Load() != 2 || len(b.bodies[1]) != len(big) {
		t.Fatalf("status %d after %d attempts, want 200 after 2 with the whole body", resp.StatusCode, b.n.Load())
	}
}

func TestPerTryTimeout(t *testing.T) {
	b := startScripted(t, 200)
	// The first attempt hangs until the per-try timeout cuts it.
	b.delay = func(n int) time.Duration {
		if n == 1 {
			return time.Minute
		}
		return 0
	}
	retried := toCluster(prefixMatch("/retry"), "b")
	retried.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "reset", NumRetries: wrapperspb.UInt32(1),
		PerTryTimeout: durationpb.New(time.Second), RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)}}
	once := toCluster(prefixMatch("/once"), "b")
	once.GetRoute().RetryPolicy = &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(0), PerTryTimeout: durationpb.New(time.Second)}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, retried, once)), map[string][]string{"b": {b.addr()}})
	if res := do(t, client(), "GET", base+"/retry", "x", nil); res.status != 200 || b.n.Load() != 2 {
		t.Fatalf("status %d after %d attempts, want 200 after the retry", res.status, b.n.Load())
	}
	b.n.Store(0)
	if res := do(t, client(), "GET", base+"/once", "x", nil); res.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504 when the only attempt times out", res.status)
	}
}

func TestRetryBudget(t *testing.T) {
	var tr traffic
	b := config.RetryBudget{Percent: 20, MinConcurrency: 3}
	for i := range 3 {
		if !tr.acquireRetry(b) {
			t.Fatalf("retry %d refused below the minimum concurrency", i)
		}
	}
	if tr.acquireRetry(b) {
		t.Fatal("4th concurrent retry allowed with 0 active requests")
	}
	tr.active.Store(50) // 20% of 50 = 10
	for range 7 {
		if !tr.acquireRetry(b) {
			t.Fatal("retry refused within 20% of the active requests")
		}
	}
	if tr.acquireRetry(b) {
		t.Fatal("11th concurrent retry allowed with 50 active requests")
	}
	tr.retries.Add(-1)
	if !tr.acquireRetry(b) {
		t.Fatal("a released slot is not reusable")
	}
}

func TestMirror(t *testing.T) {
	main := startScripted(t, 200)
	shadow := startScripted(t, 500)
	release := make(chan struct{})
	shadow.delay = func(int) time.Duration { <-release; return 0 }
	defer close(release)
	r := toCluster(prefixMatch("/"), "main")
	r.GetRoute().RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{
		{Cluster: "shadow"},
		{Cluster: "never", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 0}}},
	}
	never := startScripted(t, 200)
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, r)),
		map[string][]string{"main": {main.addr()}, "shadow": {shadow.addr()}, "never": {never.addr()}})
	// The shadow backend blocks until the main response is in: the mirror
	// never delays it, and its 500 never reaches the client.
	resp, body := post(t, base+"/m", "app.test:8080", "copy me", nil)
	if resp.StatusCode != 200 || body != "attempt" {
		t.Fatalf("main response %d %q", resp.StatusCode, body)
	}
	// The backend counts a request before it reads the body and records
	// it: wait for the record itself.
	waitFor(t, func() bool {
		shadow.mu.Lock()
		defer shadow.mu.Unlock()
		return len(shadow.hosts) > 0
	})
	shadow.mu.Lock()
	defer shadow.mu.Unlock()
	if len(shadow.hosts) != 1 || shadow.hosts[0] != "app.test-shadow:8080" || shadow.bodies[0] != "copy me" {
		t.Fatalf("shadow got hosts %q bodies %q, want one copy with Host app.test-shadow:8080", shadow.hosts, shadow.bodies)
	}
	if never.n.Load() != 0 {
		t.Fatal("a 0% mirror was sent")
	}
}

func TestShadowHost(t *testing.T) {
	for in, want := range map[string]string{"a.test": "a.test-shadow", "a.test:80": "a.test-shadow:80", "[::1]": "[::1]-shadow", "[::1]:8": "[::1]-shadow:8"} {
		if got := shadowHost(in); got != want {
			t.Errorf("shadowHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func corsHCM(t *testing.T, route string) *hcmv3.HttpConnectionManager {
	h := hcm(t, route)
	h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.cors", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &corsv3.Cors{})}}},
		&hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}})
	h.HttpFilters = h.HttpFilters[:2]
	return h
}

func TestCORS(t *testing.T) {
	b := startScripted(t, 200)
	r := toCluster(prefixMatch("/"), "b")
	r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.cors": mustAny(t, &corsv3.CorsPolicy{
		AllowOriginStringMatch: []*matcherv3.StringMatcher{
			{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "https://app.example"}},
			{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `https://.*\.example\.com`}}},
		},
		AllowMethods: "GET,POST", AllowHeaders: "X-Custom", ExposeHeaders: "X-Exposed", MaxAge: "600", AllowCredentials: wrapperspb.Bool(true),
	})}
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b.addr())
	res.Routes["r"] = routeConfig("r", vhost("v", []string{"*"}, r))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, corsHCM(t, "r"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	c := client()

	pre := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://a.example.com", "Access-Control-Request-Method": "POST"})
	// The preflight answer carries Expose-Headers too: Envoy's local reply
	// passes through the CORS filter's encode path.
	want := map[string]string{"Access-Control-Allow-Origin": "https://a.example.com", "Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "X-Custom", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers": "X-Exposed"}
	if pre.status != 200 || b.n.Load() != 0 {
		t.Fatalf("preflight: status %d, backend hit %d times; want 200 from the proxy", pre.status, b.n.Load())
	}
	for k, v := range want {
		if got := pre.header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	actual := do(t, c, "GET", base+"/", "x", map[string]string{"Origin": "https://app.example"})
	if actual.status != 200 || actual.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		actual.header.Get("Access-Control-Expose-Headers") != "X-Exposed" || actual.header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("actual request: %d %v", actual.status, actual.header)
	}
	other := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"})
	if other.header.Get("Access-Control-Allow-Origin") != "" || b.n.Load() != 2 {
		t.Fatalf("disallowed origin: ACAO %q, backend hits %d; want no CORS headers and the request forwarded", other.header.Get("Access-Control-Allow-Origin"), b.n.Load())
	}

	// Without the CORS http filter the route policy is inert (Envoy).
	res2 := clone(res)
	res2.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "r"))))
	applyAll(t, p, res2)
	if pre := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}); pre.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS applied without the CORS filter")
	}
}

// TestCORSWildcards: "*" in allow_methods / allow_headers answers a
// preflight with what it asked for (Envoy), so that the answer also holds
// with credentials, where a browser reads "*" literally. A preflight that
// asks for no headers gets no Allow-Headers.
func TestCORSWildcards(t *testing.T) {
	b := startScripted(t, 200)
	r := toCluster(prefixMatch("/"), "b")
	r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.cors": mustAny(t, &corsv3.CorsPolicy{
		AllowOriginStringMatch: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `.*`}}}},
		AllowMethods:           "*", AllowHeaders: "*", AllowCredentials: wrapperspb.Bool(true),
	})}
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b.addr())
	res.Routes["r"] = routeConfig("r", vhost("v", []string{"*"}, r))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, corsHCM(t, "r"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	c := client()

	pre := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://other.test:8443",
		"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-header-1, x-header-2"})
	want := map[string]string{"Access-Control-Allow-Origin": "https://other.test:8443", "Access-Control-Allow-Methods": "PUT",
		"Access-Control-Allow-Headers": "x-header-1, x-header-2", "Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age": "", "Access-Control-Expose-Headers": ""}
	if pre.status != 200 || b.n.Load() != 0 {
		t.Fatalf("preflight: status %d, backend hit %d times; want 200 from the proxy", pre.status, b.n.Load())
	}
	for k, v := range want {
		if got := pre.header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	bare := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://other.test", "Access-Control-Request-Method": "DELETE"})
	if bare.header.Get("Access-Control-Allow-Methods") != "DELETE" || len(bare.header.Values("Access-Control-Allow-Headers")) != 0 {
		t.Errorf("preflight without Access-Control-Request-Headers: %v; want Allow-Methods DELETE and no Allow-Headers", bare.header)
	}
	actual := do(t, c, "GET", base+"/", "x", map[string]string{"Origin": "https://other.test"})
	if actual.status != 200 || b.n.Load() != 1 || actual.header.Get("Access-Control-Allow-Origin") != "https://other.test" ||
		actual.header.Get("Access-Control-Allow-Credentials") != "true" || actual.header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("actual request: %d %v (backend hits %d)", actual.status, actual.header, b.n.Load())
	}
}

// TestCORSDeniedPreflight: with forward_not_matching_preflights false, a
// preflight from a disallowed origin is answered by the proxy, 200 without
// any CORS header; an actual request from that origin is still routed.
func TestCORSDeniedPreflight(t *testing.T) {
	b := startScripted(t, 200)
	r := toCluster(prefixMatch("/"), "b")
	r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.cors": mustAny(t, &corsv3.CorsPolicy{
		AllowOriginStringMatch: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "https://app.example"}}},
		AllowMethods:           "GET", AllowHeaders: "X-Custom", ExposeHeaders: "X-Exposed", MaxAge: "5", AllowCredentials: wrapperspb.Bool(true),
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	})}
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b.addr())
	res.Routes["r"] = routeConfig("r", vhost("v", []string{"*"}, r))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, corsHCM(t, "r"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	c := client()

	denied := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"})
	if denied.status != 200 || b.n.Load() != 0 {
		t.Fatalf("denied preflight: status %d, backend hit %d times; want 200 from the proxy", denied.status, b.n.Load())
	}
	for k := range denied.header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("denied preflight carries %s: %q", k, denied.header.Get(k))
		}
	}
	allowed := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
	if allowed.status != 200 || allowed.header.Get("Access-Control-Allow-Origin") != "https://app.example" || b.n.Load() != 0 {
		t.Fatalf("allowed preflight: %d %v (backend hits %d)", allowed.status, allowed.header, b.n.Load())
	}
	// Not a preflight (no Access-Control-Request-Method): routed, no CORS.
	plain := do(t, c, "OPTIONS", base+"/", "x", map[string]string{"Origin": "https://evil.test"})
	actual := do(t, c, "GET", base+"/", "x", map[string]string{"Origin": "https://evil.test"})
	if plain.status != 200 || actual.status != 200 || b.n.Load() != 2 || actual.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("requests from a disallowed origin: OPTIONS %d, GET %d %v, backend hits %d; want both routed without CORS headers",
			plain.status, actual.status, actual.header, b.n.Load())
	}
}

func TestWeightedClusterHeaders(t *testing.T) {
	a := startScripted(t, 200)
	bb := startScripted(t, 200)
	r := toWeighted(prefixMatch("/"), map[string]uint32{"a": 1, "b": 1})
	for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
		wc.RequestHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "X-Backend-Header", Value: "for-" + wc.Name}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}
		wc.ResponseHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "X-Picked", Value: wc.Name}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}
	}
	_, _, base := httpSetup(t, routeConfig("r", vhost("v", []string{"*"}, r)), map[string][]string{"a": {a.addr()}, "b": {bb.addr()}})
	c := client()
	seen := map[string]bool{}
	for range 40 {
		res := do(t, c, "GET", base+"/", "x", map[string]string{"X-Backend-Header": "client"})
		picked := res.header.Get("X-Picked")
		if got := res.header.Get("X-Seen-Backend-Header"); got != "for-"+picked {
			t.Fatalf("backend %q saw X-Backend-Header %q", picked, got)
		}
		seen[picked] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("picked %v, want both", seen)
	}
}

func TestRouteFeatureNACKs(t *testing.T) {
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", "127.0.0.1:1")
	bad := toCluster(prefixMatch("/"), "b")
	bad.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx"}
	res.Routes["r"] = routeConfig("r", vhost("v", []string{"*"}, bad))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "r"))))
	err := p.Apply(config.TypeRoute, res)
	if err == nil || !strings.Contains(err.Error(), "retry_policy.retry_on") || !strings.Contains(err.Error(), `"5xx"`) {
		t.Fatalf("Apply = %v, want a NACK naming retry_policy.retry_on", err)
	}
	bad.GetRoute().RetryPolicy = nil
	bad.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_authz": mustAny(t, &corsv3.CorsPolicy{})}
	err = p.Apply(config.TypeRoute, res)
	if err == nil || !strings.Contains(err.Error(), "typed_per_filter_config") || !strings.Contains(err.Error(), "envoy.filters.http.ext_authz") {
		t.Fatalf("Apply = %v, want a NACK naming the per-filter config key", err)
	}
	bad.TypedPerFilterConfig = nil
	bad.GetRoute().RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "missing"}}
	_, err = config.Compile(res)
	if err == nil || !strings.Contains(err.Error(), "request_mirror_policies[0]") {
		t.Fatalf("Compile = %v, want an error naming request_mirror_policies[0]", err)
	}
}
