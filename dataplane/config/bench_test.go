package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Benchmarks of the data plane's per-request route selection (virtual host
// by Host, then the first matching route) and of compiling xDS resources
// into a Config. Inputs are generated here, deterministically, in the shapes
// controller/xds emits: PathPrefix as path_separated_prefix, Exact as path,
// RegularExpression as safe_regex, header and query matchers as
// string_match. bench/go/README.md describes each benchmark.

// benchSizes are the table sizes of the scale benchmarks (bench-scale uses
// the same HTTPRoute counts).
var benchSizes = []int{10, 100, 1000, 5000}

// routesPerHost is how many routes share a virtual host in the mixed
// tables: a hostname per ten routes.
const routesPerHost = 10

// --- route matcher ------------------------------------------------------------

// BenchmarkVirtualHost measures RouteTable.VirtualHost (the Host header to
// virtual host step of every request) with n exact domains, one suffix
// wildcard per ten of them and a "*" virtual host. The looked-up names
// cycle through the whole table.
func BenchmarkVirtualHost(b *testing.B) {
	for _, n := range benchSizes {
		t := mustCompileRoute(b, domainTable(n))
		kinds := []struct {
			name  string
			hosts func(i int) string
		}{
			{"exact", func(i int) string { return "app" + strconv.Itoa(i) + ".example.com" }},
			// With a port and upper case letters, as browsers may send them.
			{"exact-port-case", func(i int) string { return "App" + strconv.Itoa(i) + ".Example.com:8443" }},
			{"wildcard", func(i int) string { return "x.wild" + strconv.Itoa(i-i%routesPerHost) + ".example.com" }},
			// No exact or wildcard name matches: every wildcard is tried.
			{"catch-all", func(i int) string { return "unknown" + strconv.Itoa(i) + ".example.org" }},
		}
		for _, k := range kinds {
			hosts := make([]string, n)
			for i := range hosts {
				hosts[i] = k.hosts(i)
			}
			b.Run(fmt.Sprintf("%s/hosts=%d", k.name, n), func(b *testing.B) {
				b.ReportAllocs()
				report := cpuPerOp(b)
				i := 0
				for b.Loop() {
					if t.VirtualHost(hosts[i]) == nil {
						b.Fatalf("no virtual host for %q", hosts[i])
					}
					if i++; i == len(hosts) {
						i = 0
					}
				}
				report()
			})
		}
	}
}

// domainTable has n virtual hosts app<i>.example.com, each tenth also
// *.wild<i>.example.com, and a catch-all.
func domainTable(n int) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "hosts"}
	for i := range n {
		domains := []string{"app" + strconv.Itoa(i) + ".example.com"}
		if i%routesPerHost == 0 {
			domains = append(domains, "*.wild"+strconv.Itoa(i)+".example.com")
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: "vh" + strconv.Itoa(i), Domains: domains,
			Routes: []*routev3.Route{benchRoute(prefixMatchOf("/"), "c0")}})
	}
	rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{Name: "default", Domains: []string{"*"},
		Routes: []*routev3.Route{benchRoute(prefixMatchOf("/"), "c0")}})
	return rc
}

// BenchmarkRoute measures VirtualHost.Route (the first-match scan) over one
// virtual host of n routes of one kind. Requests cycle through the table,
// so a request scans n/2 routes on average; "miss" scans all n and 404s.
func BenchmarkRoute(b *testing.B) {
	for _, kind := range matchKinds {
		for _, n := range benchSizes {
			vh := mustCompileRoute(b, singleHostTable(n, kind.route)).VirtualHosts[0]
			reqs := make([]*Request, n)
			for i := range reqs {
				reqs[i] = kind.request(i)
			}
			b.Run(fmt.Sprintf("%s/routes=%d", kind.name, n), func(b *testing.B) {
				benchMatch(b, vh, reqs, true)
			})
		}
	}
	for _, n := range benchSizes {
		vh := mustCompileRoute(b, singleHostTable(n, matchKinds[0].route)).VirtualHosts[0]
		miss := []*Request{{Method: http.MethodGet, Authority: "app.example.com", Scheme: "http", Path: "/nothing/here", Header: http.Header{}}}
		b.Run(fmt.Sprintf("miss/routes=%d", n), func(b *testing.B) {
			benchMatch(b, vh, miss, false)
		})
	}
}

func benchMatch(b *testing.B, vh *VirtualHost, reqs []*Request, want bool) {
	b.ReportAllocs()
	report := cpuPerOp(b)
	i := 0
	for b.Loop() {
		if got := vh.Route(reqs[i]) != nil; got != want {
			b.Fatalf("request %d (%s?%s): matched %v", i, reqs[i].Path, reqs[i].RawQuery, got)
		}
		if i++; i == len(reqs) {
			i = 0
		}
	}
	report()
}

// matchKinds are the match shapes of Gateway API rules: route i of a kind
// matches request i of that kind and no earlier route does.
var matchKinds = []struct {
	name    string
	route   func(i int) *routev3.Route
	request func(i int) *Request
}{
	{"prefix",
		func(i int) *routev3.Route { return benchRoute(sepPrefixMatchOf("/svc"+strconv.Itoa(i)), "c0") },
		func(i int) *Request { return getRequest("/svc"+strconv.Itoa(i)+"/items/42", "", nil) }},
	{"exact",
		func(i int) *routev3.Route { return benchRoute(exactMatchOf("/svc"+strconv.Itoa(i)+"/health"), "c0") },
		func(i int) *Request { return getRequest("/svc"+strconv.Itoa(i)+"/health", "", nil) }},
	{"regex",
		func(i int) *routev3.Route {
			return benchRoute(regexMatchOf("/svc"+strconv.Itoa(i)+"/[a-z]+/[0-9]+"), "c0")
		},
		func(i int) *Request { return getRequest("/svc"+strconv.Itoa(i)+"/items/42", "", nil) }},
	{"header",
		func(i int) *routev3.Route {
			m := prefixMatchOf("/")
			m.Headers = []*routev3.HeaderMatcher{headerMatchOf("x-tenant", "t"+strconv.Itoa(i))}
			return benchRoute(m, "c0")
		},
		func(i int) *Request {
			return getRequest("/items/42", "", http.Header{"X-Tenant": {"t" + strconv.Itoa(i)}, "Accept": {"*/*"}, "User-Agent": {"bench"}})
		}},
	{"query",
		func(i int) *routev3.Route {
			m := prefixMatchOf("/")
			m.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "tenant",
				QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exactStringOf("t" + strconv.Itoa(i))}}}
			return benchRoute(m, "c0")
		},
		func(i int) *Request { return getRequest("/items", "page=2&tenant=t"+strconv.Itoa(i), nil) }},
}

func singleHostTable(n int, route func(int) *routev3.Route) *routev3.RouteConfiguration {
	vh := &routev3.VirtualHost{Name: "app", Domains: []string{"app.example.com"}}
	for i := range n {
		vh.Routes = append(vh.Routes, route(i))
	}
	return &routev3.RouteConfiguration{Name: "single", VirtualHosts: []*routev3.VirtualHost{vh}}
}

// BenchmarkSelectRoute is the whole per-request selection as the proxy
// does it (VirtualHost by Host, then Route) on the mixed table of n routes
// (mixedTable): the realistic shape, requests cycling through every route.
func BenchmarkSelectRoute(b *testing.B) {
	for _, n := range benchSizes {
		rt := mustCompileRoute(b, mixedTable(n))
		reqs := make([]*Request, n)
		for i := range reqs {
			reqs[i] = mixedRequest(i)
		}
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			report := cpuPerOp(b)
			i := 0
			for b.Loop() {
				r := reqs[i]
				vh := rt.VirtualHost(r.Authority)
				if vh == nil || vh.Route(r) == nil {
					b.Fatalf("request %d (%s %s?%s) not routed", i, r.Authority, r.Path, r.RawQuery)
				}
				if i++; i == len(reqs) {
					i = 0
				}
			}
			report()
		})
	}
}

// mixedTable is a route table as the controller emits it for n HTTPRoutes
// spread over n/10 hostnames: per host, ten routes in Gateway API
// precedence (exact paths first, then longer prefixes, then regexes, then
// the rest), with header and query conditions on some of them.
func mixedTable(n int) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "mixed"}
	for h := 0; h*routesPerHost < n; h++ {
		vh := &routev3.VirtualHost{Name: "app" + strconv.Itoa(h), Domains: []string{"app" + strconv.Itoa(h) + ".example.com"}}
		for i := h * routesPerHost; i < min(n, (h+1)*routesPerHost); i++ {
			vh.Routes = append(vh.Routes, mixedRoute(i, clusterFor(i, n)))
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

// mixedRoute is route i of mixedTable; mixedRequest(i) matches it first.
func mixedRoute(i int, cluster string) *routev3.Route {
	s := strconv.Itoa(i)
	var m *routev3.RouteMatch
	switch i % routesPerHost {
	case 0, 1:
		m = exactMatchOf("/exact" + s)
	case 2, 3, 4:
		m = sepPrefixMatchOf("/api" + s + "/v1")
	case 5:
		m = sepPrefixMatchOf("/api" + s)
	case 6:
		m = regexMatchOf("/re" + s + "/[0-9]+")
	case 7:
		m = sepPrefixMatchOf("/h" + s)
		m.Headers = []*routev3.HeaderMatcher{headerMatchOf("x-version", "2"), headerMatchOf(":method", "GET")}
	case 8:
		m = sepPrefixMatchOf("/q" + s)
		m.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "debug",
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exactStringOf("1")}}}
	default:
		m = prefixMatchOf("/")
	}
	r := benchRoute(m, cluster)
	r.Name = "bench/route-" + s + "/rule/0/match/0"
	return r
}

func mixedRequest(i int) *Request {
	s := strconv.Itoa(i)
	var r *Request
	switch i % routesPerHost {
	case 0, 1:
		r = getRequest("/exact"+s, "", nil)
	case 2, 3, 4:
		r = getRequest("/api"+s+"/v1/items", "", nil)
	case 5:
		r = getRequest("/api"+s+"/other", "", nil)
	case 6:
		r = getRequest("/re"+s+"/1234", "", nil)
	case 7:
		r = getRequest("/h"+s+"/x", "", http.Header{"X-Version": {"2"}})
	case 8:
		r = getRequest("/q"+s, "debug=1", nil)
	default:
		r = getRequest("/anything/else", "", nil)
	}
	r.Authority = "app" + strconv.Itoa(i/routesPerHost) + ".example.com"
	return r
}

func getRequest(path, query string, h http.Header) *Request {
	if h == nil {
		h = http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}}
	}
	return &Request{Method: http.MethodGet, Authority: "app.example.com", Scheme: "http", Path: path, RawQuery: query, Header: h}
}

// --- config compiler ---------------------------------------------------------------

// BenchmarkCompile measures Compile (validation of every resource, then
// linking) of a complete configuration for n routes: an HTTP and an HTTPS
// listener (one certificate) serving mixedTable(n) through one route
// configuration each, and one EDS cluster with three endpoints per ten
// routes. This is the work of every configuration change the data plane
// accepts.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		res := benchResources(b, n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			report := cpuPerOp(b)
			for b.Loop() {
				if _, err := Compile(res); err != nil {
					b.Fatal(err)
				}
			}
			report()
		})
	}
}

// BenchmarkCompilerUpdate measures what the proxy does per RDS update: a
// Compiler that compiled the configuration of BenchmarkCompile before
// compiles it again with one virtual host changed (a route's timeout,
// alternating between two values), reusing the other virtual hosts.
func BenchmarkCompilerUpdate(b *testing.B) {
	for _, n := range benchSizes {
		res := benchResources(b, n)
		var c Compiler
		if _, err := c.Compile(res); err != nil {
			b.Fatal(err)
		}
		action := res.Routes["http"].VirtualHosts[0].Routes[0].GetRoute()
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			report := cpuPerOp(b)
			i := 0
			for b.Loop() {
				i++
				action.Timeout = durationpb.New(time.Duration(1+i%2) * time.Second)
				if _, err := c.Compile(res); err != nil {
					b.Fatal(err)
				}
			}
			report()
		})
	}
}

// BenchmarkValidateRoutes measures Validate of the route configurations.
// The proxy no longer runs it before Compile (Compile validates every
// resource itself), so an RDS update costs BenchmarkCompile alone; this
// stays as the cost of the field checks and compile of the routes alone.
func BenchmarkValidateRoutes(b *testing.B) {
	for _, n := range benchSizes {
		res := benchResources(b, n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			report := cpuPerOp(b)
			for b.Loop() {
				if err := Validate(TypeRoute, res); err != nil {
					b.Fatal(err)
				}
			}
			report()
		})
	}
}

func benchResources(b *testing.B, n int) *Resources {
	b.Helper()
	res := &Resources{
		Listeners: map[string]*listenerv3.Listener{},
		Routes:    map[string]*routev3.RouteConfiguration{},
		Clusters:  map[string]*clusterv3.Cluster{},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
		Secrets:   map[string]*tlsv3.Secret{},
	}
	for c := range clusterCount(n) {
		name := "c" + strconv.Itoa(c)
		res.Clusters[name] = &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Second),
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}}
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{}}}
		for e := range 3 {
			cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddressOf(
					fmt.Sprintf("10.%d.%d.%d", c/250, c%250, e+1), 8080)}},
				LoadBalancingWeight: wrapperspb.UInt32(1)})
		}
		res.Endpoints[name] = cla
	}
	for _, rcName := range []string{"http", "https"} {
		rc := mixedTable(n)
		rc.Name = rcName
		res.Routes[rcName] = rc
	}
	res.Listeners["0.0.0.0:8080"] = testListener(testHCM("http"))
	certPEM, keyPEM := benchCert(b)
	res.Secrets["cert"] = &tlsv3.Secret{Name: "cert", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: certPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}}}}}
	https := testListener(testHCM("https"))
	https.Name = "0.0.0.0:8443"
	https.Address = socketAddressOf("0.0.0.0", 8443)
	https.FilterChains[0].Name = "https"
	https.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  []string{"h2", "http/1.1"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "cert", SdsConfig: adsSource()}}}})}}
	res.Listeners[https.Name] = https
	if _, err := Compile(res); err != nil {
		b.Fatalf("generated resources do not compile: %v", err)
	}
	return res
}

// clusterCount: one cluster per ten routes, as one Service per HTTPRoute
// hostname.
func clusterCount(n int) int { return max(1, n/routesPerHost) }

func clusterFor(i, n int) string { return "c" + strconv.Itoa(i%clusterCount(n)) }

// --- xDS builders -------------------------------------------------------------------

func benchRoute(m *routev3.RouteMatch, cluster string) *routev3.Route {
	return &routev3.Route{Match: m, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}}
}

func prefixMatchOf(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func sepPrefixMatchOf(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}}
}

func exactMatchOf(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: p}}
}

func regexMatchOf(re string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

func exactStringOf(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func headerMatchOf(name, exact string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exactStringOf(exact)}}
}

func socketAddressOf(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

// benchCert is a self-signed ECDSA P-256 certificate for *.example.com;
// only its parsing cost matters here, not its bytes.
func benchCert(b *testing.B) (certPEM, keyPEM []byte) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "*.example.com"}, DNSNames: []string{"*.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// cpuPerOp starts measuring the process's CPU time (user and system, every
// goroutine and the garbage collector); the returned func reports it per
// operation as cpu-ns/op. Unlike ns/op it does not grow when other
// processes compete for the cores, as they do on a shared machine.
func cpuPerOp(b *testing.B) (report func()) {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustCompileRoute(b *testing.B, rc *routev3.RouteConfiguration) *RouteTable {
	b.Helper()
	t, err := compileRoute(rc.Name, rc)
	if err != nil {
		b.Fatalf("generated route configuration does not compile: %v", err)
	}
	return t
}

// TestStripPortSkipsOnlyFailingParses: stripPort parses the host as an IP
// only when it has a second colon (an allocation saved per request, see
// BenchmarkVirtualHost/exact-port-case); with one colon net.ParseIP never
// succeeds, so the result is the same as always asking it.
func TestStripPortSkipsOnlyFailingParses(t *testing.T) {
	always := func(host string) string {
		i := len(host) - 1
		for i >= 0 && host[i] >= '0' && host[i] <= '9' {
			i--
		}
		if i < 0 || i == len(host)-1 || host[i] != ':' {
			return host
		}
		if h := host[:i]; len(h) > 0 && h[0] == '[' {
			return h
		}
		if net.ParseIP(host) != nil {
			return host
		}
		return host[:i]
	}
	for _, in := range []string{"", ":", ":1", "a:80", "a", "a:", "1.2.3.4:5", "1.2.3.4", "::1", "::1:80", "fe80::1:8080",
		"fe80::1", "[::1]:8080", "[::1]", "a:b:80", "1:2", "::ffff:1.2.3.4", "::ffff:1.2.3.4:80", "App.Example.com:8443", "x::80"} {
		if got, want := stripPort(in), always(in); got != want {
			t.Errorf("stripPort(%q) = %q, net.ParseIP every time gives %q", in, got, want)
		}
	}
}
