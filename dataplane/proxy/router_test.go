package proxy

import (
	"net"
	"net/http"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// routingTable exercises every match and action of the contract.
func routingTable() *routev3.RouteConfiguration {
	withHeaders := toCluster(prefixMatch("/hdr"), "b")
	withHeaders.RequestHeadersToAdd = []*corev3.HeaderValueOption{
		{Header: &corev3.HeaderValue{Key: "X-Set", Value: "set"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
		{Header: &corev3.HeaderValue{Key: "X-Add", Value: "added"}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD},
	}
	withHeaders.RequestHeadersToRemove = []string{"X-Drop"}
	withHeaders.ResponseHeadersToAdd = []*corev3.HeaderValueOption{
		{Header: &corev3.HeaderValue{Key: "X-Resp", Value: "r"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
	}
	withHeaders.ResponseHeadersToRemove = []string{"X-Remove-Me"}

	prefixRW := toCluster(sepPrefixMatch("/old"), "b")
	prefixRW.GetRoute().PrefixRewrite = "/new"
	regexRW := toCluster(sepPrefixMatch("/full"), "b")
	regexRW.GetRoute().RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/full/(.*)$"}, Substitution: "/replaced/\\1"}
	hostRW := toCluster(exactMatch("/hostrw"), "b")
	hostRW.GetRoute().HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "rewritten.example"}

	methodRoute := toCluster(prefixMatch("/method"), "b")
	methodRoute.Match.Headers = []*routev3.HeaderMatcher{headerMatch(":method", exactString("POST"))}
	headerRoute := toCluster(prefixMatch("/match-header"), "b")
	headerRoute.Match.Headers = []*routev3.HeaderMatcher{headerMatch("X-Version", exactString("v2")), headerMatch("x-tier", regexString("gold|silver"))}
	queryRoute := toCluster(prefixMatch("/match-query"), "b")
	queryRoute.Match.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "env", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exactString("canary")}}}

	redirect := func(m *routev3.RouteMatch, r *routev3.RedirectAction) *routev3.Route {
		return &routev3.Route{Match: m, Action: &routev3.Route_Redirect{Redirect: r}}
	}
	direct := &routev3.Route{Match: exactMatch("/direct"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
		Status: 418, Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "teapot"}}}}}
	noEndpoints := toCluster(prefixMatch("/empty"), "empty")
	dead := toCluster(prefixMatch("/dead"), "dead")
	dead.GetRoute().Timeout = durationpb.New(0)

	return routeConfig("main",
		vhost("exact", []string{"exact.example.com"}, toCluster(prefixMatch("/"), "a")),
		vhost("wild-long", []string{"*.foo.example.com"}, toCluster(prefixMatch("/"), "b")),
		vhost("wild", []string{"*.example.com"}, toCluster(prefixMatch("/"), "c")),
		vhost("routes", []string{"routes.test", "routes.test:8080"},
			toCluster(sepPrefixMatch("/foo"), "a"),
			toCluster(exactMatch("/exact"), "b"),
			toCluster(regexMatch("/re/[0-9]+"), "c"),
			methodRoute, headerRoute, queryRoute, withHeaders, prefixRW, regexRW, hostRW, direct, noEndpoints, dead,
			redirect(exactMatch("/r/https"), &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"}}),
			redirect(exactMatch("/r/port"), &routev3.RedirectAction{HostRedirect: "other.test", PortRedirect: 9443, ResponseCode: routev3.RedirectAction_FOUND}),
			redirect(exactMatch("/r/path"), &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/elsewhere"}, ResponseCode: routev3.RedirectAction_PERMANENT_REDIRECT}),
			redirect(sepPrefixMatch("/r/prefix"), &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/moved"}, ResponseCode: routev3.RedirectAction_SEE_OTHER}),
			redirect(sepPrefixMatch("/r/rx"), &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_RegexRewrite{RegexRewrite: &matcherv3.RegexMatchAndSubstitute{
				Pattern: &matcherv3.RegexMatcher{Regex: "^/r/rx/*"}, Substitution: "/"}}}),
			redirect(exactMatch("/r/tmp"), &routev3.RedirectAction{ResponseCode: routev3.RedirectAction_TEMPORARY_REDIRECT, SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "http"}}),
		),
		vhost("default", []string{"*"}, toCluster(exactMatch("/only"), "a")),
	)
}

func TestRouting(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens here: connect fails
	_, _, base := httpSetup(t, routingTable(), map[string][]string{
		"a": {backendAddr(a)}, "b": {backendAddr(b)}, "c": {backendAddr(c)}, "empty": nil, "dead": {deadAddr},
	})
	cl := client()

	tests := []struct {
		name, method, path, host string
		hdr                      map[string]string
		status                   int
		backend                  string
		uri                      string // as seen by the backend
		location                 string
	}{
		{name: "exact vhost", path: "/x", host: "exact.example.com", status: 200, backend: "a"},
		{name: "vhost case and port", path: "/x", host: "EXACT.Example.com:1234", status: 200, backend: "a"},
		{name: "longest wildcard", path: "/x", host: "a.foo.example.com", status: 200, backend: "b"},
		{name: "shorter wildcard", path: "/x", host: "bar.example.com", status: 200, backend: "c"},
		{name: "wildcard needs a label", path: "/only", host: "example.com", status: 200, backend: "a"},
		{name: "catch-all no route", path: "/nothing", host: "unknown.test", status: 404},
		{name: "separated prefix exact", path: "/foo", host: "routes.test", status: 200, backend: "a", uri: "/foo"},
		{name: "separated prefix segment", path: "/foo/bar?x=1", host: "routes.test", status: 200, backend: "a", uri: "/foo/bar?x=1"},
		{name: "separated prefix not partial", path: "/foobar", host: "routes.test", status: 404},
		{name: "exact path", path: "/exact?q=1", host: "routes.test", status: 200, backend: "b"},
		{name: "exact path only", path: "/exact/more", host: "routes.test", status: 404},
		{name: "regex full match", path: "/re/123?x=abc", host: "routes.test", status: 200, backend: "c"},
		{name: "regex must match whole path", path: "/re/123x", host: "routes.test", status: 404},
		{name: "method match", method: "POST", path: "/method", host: "routes.test", status: 200, backend: "b"},
		{name: "method mismatch", path: "/method", host: "routes.test", status: 404},
		{name: "headers match", path: "/match-header", host: "routes.test", hdr: map[string]string{"X-Version": "v2", "X-Tier": "silver"}, status: 200, backend: "b"},
		{name: "header regex mismatch", path: "/match-header", host: "routes.test", hdr: map[string]string{"X-Version": "v2", "X-Tier": "silverish"}, status: 404},
		{name: "header missing", path: "/match-header", host: "routes.test", hdr: map[string]string{"X-Tier": "gold"}, status: 404},
		{name: "query match", path: "/match-query?a=b&env=canary", host: "routes.test", status: 200, backend: "b"},
		{name: "query mismatch", path: "/match-query?env=prod", host: "routes.test", status: 404},
		{name: "prefix rewrite", path: "/old/x?k=v", host: "routes.test", status: 200, backend: "b", uri: "/new/x?k=v"},
		{name: "prefix rewrite whole", path: "/old", host: "routes.test", status: 200, backend: "b", uri: "/new"},
		{name: "regex rewrite", path: "/full/a/b?k=v", host: "routes.test", status: 200, backend: "b", uri: "/replaced/a/b?k=v"},
		{name: "redirect scheme drops port", path: "/r/https?x=1", host: "routes.test:8080", status: 301, location: "https://routes.test/r/https?x=1"},
		{name: "redirect host and port", path: "/r/port", host: "routes.test:8080", status: 302, location: "http://other.test:9443/r/port"},
		{name: "redirect path keeps port and query", path: "/r/path?a=1", host: "routes.test:8080", status: 308, location: "http://routes.test:8080/elsewhere?a=1"},
		{name: "redirect prefix", path: "/r/prefix/deep?z", host: "routes.test", status: 303, location: "http://routes.test/moved/deep?z"},
		{name: "redirect regex rewrite", path: "/r/rx/deep?q", host: "routes.test", status: 301, location: "http://routes.test/deep?q"},
		{name: "redirect regex rewrite bare", path: "/r/rx", host: "routes.test", status: 301, location: "http://routes.test/"},
		{name: "redirect same scheme keeps port", path: "/r/tmp", host: "routes.test:8080", status: 307, location: "http://routes.test:8080/r/tmp"},
		{name: "direct response", path: "/direct", host: "routes.test", status: 418},
		{name: "no endpoints", path: "/empty", host: "routes.test", status: 503},
		{name: "connect failure", path: "/dead", host: "routes.test", status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			r := do(t, cl, method, base+tc.path, tc.host, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.status, tc.status, r.body)
			}
			if tc.backend != "" && r.echo.Backend != tc.backend {
				t.Errorf("backend %q, want %q", r.echo.Backend, tc.backend)
			}
			if tc.uri != "" && r.echo.URI != tc.uri {
				t.Errorf("upstream URI %q, want %q", r.echo.URI, tc.uri)
			}
			if got := r.header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
		})
	}

	t.Run("direct response body", func(t *testing.T) {
		r := do(t, cl, "GET", base+"/direct", "routes.test", nil)
		if r.body != "teapot" {
			t.Errorf("body %q", r.body)
		}
	})
	t.Run("header mutation", func(t *testing.T) {
		r := do(t, cl, "GET", base+"/hdr", "routes.test", map[string]string{"X-Set": "client", "X-Add": "client", "X-Drop": "x"})
		h := r.echo.Header
		if got := h.Values("X-Set"); len(got) != 1 || got[0] != "set" {
			t.Errorf("X-Set %q", got)
		}
		if got := h.Values("X-Add"); strings.Join(got, ",") != "client,added" {
			t.Errorf("X-Add %q", got)
		}
		if h.Get("X-Drop") != "" {
			t.Errorf("X-Drop not removed")
		}
		if r.header.Get("X-Resp") != "r" || r.header.Get("X-Remove-Me") != "" {
			t.Errorf("response headers %v", r.header)
		}
	})
	t.Run("host rewrite", func(t *testing.T) {
		r := do(t, cl, "GET", base+"/hostrw", "routes.test", nil)
		if r.echo.Host != "rewritten.example" {
			t.Errorf("Host %q", r.echo.Host)
		}
		if r2 := do(t, cl, "GET", base+"/exact", "routes.test", nil); r2.echo.Host != "routes.test" {
			t.Errorf("Host not preserved: %q", r2.echo.Host)
		}
	})
	t.Run("forwarding headers", func(t *testing.T) {
		r := do(t, cl, "GET", base+"/exact", "routes.test", map[string]string{"Connection": "X-Secret, keep-alive", "X-Secret": "1", "Keep-Alive": "timeout=5"})
		h := r.echo.Header
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" {
			t.Errorf("forwarded headers %v", h)
		}
		if len(h.Get("X-Request-Id")) != 36 {
			t.Errorf("X-Request-Id %q", h.Get("X-Request-Id"))
		}
		if h.Get("X-Secret") != "" || h.Get("Keep-Alive") != "" {
			t.Errorf("hop-by-hop headers forwarded: %v", h)
		}
		if r.header.Get("X-Hop") != "" {
			t.Errorf("hop-by-hop response header forwarded")
		}
		r = do(t, cl, "GET", base+"/exact", "routes.test", map[string]string{"X-Request-Id": "given", "X-Forwarded-For": "10.0.0.1"})
		if r.echo.Header.Get("X-Request-Id") != "given" || r.echo.Header.Get("X-Forwarded-For") != "10.0.0.1" {
			t.Errorf("existing headers replaced: %v", r.echo.Header)
		}
	})
	_ = http.StatusOK
}

// TestPathNormalization: normalize_path, merge_slashes and the escaped
// slash actions change the path used for routing and forwarding.
func TestPathNormalization(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(sepPrefixMatch("/api"), "a")))
	norm := hcm(t, "main")
	norm.NormalizePath = wrapperspb.Bool(true)
	norm.MergeSlashes = true
	norm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD
	reject := hcm(t, "main")
	reject.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_REJECT_REQUEST
	res.Listeners["norm"] = listener(t, "norm", 0, false, chain("http", nil, nil, hcmFilter(t, norm)))
	res.Listeners["reject"] = listener(t, "reject", 0, false, chain("http", nil, nil, hcmFilter(t, reject)))
	applyAll(t, p, res)
	cl := client()
	normBase := "http://" + p.ListenerAddr("norm").String()
	for in, want := range map[string]string{
		"/x/../api/v1":     "/api/v1",
		"//api///v1?q=a//": "/api/v1?q=a//",
		"/api%2Fv1":        "/api/v1",
		"/api/./v1/.":      "/api/v1/",
	} {
		r := do(t, cl, "GET", normBase+in, "x", nil)
		if r.status != 200 || r.echo.URI != want {
			t.Errorf("%s: status %d, upstream %q, want %q", in, r.status, r.echo.URI, want)
		}
	}
	if r := do(t, cl, "GET", "http://"+p.ListenerAddr("reject").String()+"/api%2fv1", "x", nil); r.status != 400 {
		t.Errorf("escaped slash with REJECT_REQUEST: %d", r.status)
	}
}
