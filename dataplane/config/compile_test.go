package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func testHCM(route string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{StatPrefix: "http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: adsSource(), RouteConfigName: route}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: nameRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}}}
}

func testListener(h *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{Name: "0.0.0.0:8080",
		Address:      &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}},
		FilterChains: []*listenerv3.FilterChain{{Name: "http", Filters: []*listenerv3.Filter{{Name: nameHCM, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(h)}}}}}}
}

func testRoute() *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "rc", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}}}}}}}
}

func testCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: "c", ConnectTimeout: durationpb.New(time.Second), ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}}
}

func testCLA() *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 80}}}}}},
		LoadBalancingWeight: wrapperspb.UInt32(2)}}}}}
}

func testResources() *Resources {
	return &Resources{
		Listeners: map[string]*listenerv3.Listener{"0.0.0.0:8080": testListener(testHCM("rc"))},
		Routes:    map[string]*routev3.RouteConfiguration{"rc": testRoute()},
		Clusters:  map[string]*clusterv3.Cluster{"c": testCluster()},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{"c": testCLA()},
		Secrets:   map[string]*tlsv3.Secret{},
	}
}

func TestCompileValid(t *testing.T) {
	cfg, err := Compile(testResources())
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners["0.0.0.0:8080"]
	if l.Address != "0.0.0.0:8080" || l.Chain("").HTTP.Routes != cfg.Routes["rc"] {
		t.Fatalf("listener not linked: %+v", l)
	}
	fw := cfg.Routes["rc"].VirtualHost("x").Routes[0].Forward
	if fw.Clusters.Entries[0].Cluster != cfg.Clusters["c"] || fw.Timeout != DefaultRouteTimeout {
		t.Fatalf("route not linked: %+v", fw)
	}
	if eps := cfg.Clusters["c"].Endpoints; len(eps) != 1 || eps[0] != (Endpoint{Host: "10.0.0.1", Port: 80, Weight: 2}) {
		t.Fatalf("endpoints %+v", eps)
	}
}

// TestUnsupportedFields: every field outside the contract is named, with
// its path, wherever it is (top level, nested, inside typed_config).
func TestUnsupportedFields(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Resources)
		want   string
	}{
		{"hcm field inside typed_config", func(r *Resources) {
			h := testHCM("rc")
			h.GenerateRequestId = wrapperspb.Bool(false)
			r.Listeners["0.0.0.0:8080"] = testListener(h)
		}, `listener "0.0.0.0:8080": filter_chains[0].filters[0].typed_config: unsupported field "generate_request_id"`},
		{"listener top level", func(r *Resources) {
			r.Listeners["0.0.0.0:8080"].PerConnectionBufferLimitBytes = wrapperspb.UInt32(1)
		}, `listener "0.0.0.0:8080": unsupported field "per_connection_buffer_limit_bytes"`},
		{"udp listener with filter chains", func(r *Resources) {
			r.Listeners["0.0.0.0:8080"].Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
		}, `listener "0.0.0.0:8080": filter_chains: a UDP listener has no filter chains`},
		{"http filter type", func(r *Resources) {
			h := testHCM("rc")
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{})}
			r.Listeners["0.0.0.0:8080"] = testListener(h)
		}, `listener "0.0.0.0:8080": filter_chains[0].filters[0].typed_config.http_filters[0].typed_config: unsupported type "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"`},
		{"route deep", func(r *Resources) {
			r.Routes["rc"].VirtualHosts[0].Routes[0].Match.CaseSensitive = wrapperspb.Bool(false)
		}, `route configuration "rc": virtual_hosts[0].routes[0].match: unsupported field "case_sensitive"`},
		{"vhost", func(r *Resources) {
			r.Routes["rc"].VirtualHosts[0].RequireTls = routev3.VirtualHost_ALL
		}, `route configuration "rc": virtual_hosts[0]: unsupported field "require_tls"`},
		{"cluster lb policy", func(r *Resources) {
			r.Clusters["c"].LbPolicy = clusterv3.Cluster_LEAST_REQUEST
		}, `cluster "c": unsupported field "lb_policy"`},
		{"cla locality", func(r *Resources) {
			r.Endpoints["c"].Endpoints[0].Locality = &corev3.Locality{Zone: "z"}
		}, `cluster load assignment "c": endpoints[0].locality: unsupported field "zone"`},
		{"secret", func(r *Resources) {
			r.Secrets["s"] = &tlsv3.Secret{Name: "s", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{OnlyVerifyLeafCertCrl: true}}}
		}, `secret "s": validation_context: unsupported field "only_verify_leaf_cert_crl"`},
		{"unknown field bytes", func(r *Resources) {
			r.Clusters["c"].ProtoReflect().SetUnknown([]byte{0xf8, 0xff, 0x3f, 0x01})
		}, `cluster "c": unknown field`},
		{"invalid regex", func(r *Resources) {
			r.Routes["rc"].VirtualHosts[0].Routes[0].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{}
		}, `route configuration "rc": virtual_hosts[0].routes[0].match.safe_regex.regex: regex is empty`},
		{"duplicate domains", func(r *Resources) {
			r.Routes["rc"].VirtualHosts = append(r.Routes["rc"].VirtualHosts, &routev3.VirtualHost{Name: "b", Domains: []string{"*"}})
		}, `route configuration "rc": virtual_hosts[1].domains[0]: domain "*" is used by more than one virtual host`},
		{"static cluster", func(r *Resources) {
			r.Clusters["c"].ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
			r.Clusters["c"].EdsClusterConfig = nil
		}, `cluster "c": type: unsupported cluster type STATIC (EDS or STRICT_DNS)`},
		{"invalid beats incomplete", func(r *Resources) {
			delete(r.Clusters, "c")
			r.Endpoints["c"].Endpoints[0].LbEndpoints[0].LoadBalancingWeight = wrapperspb.UInt32(0)
		}, `cluster load assignment "c": endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testResources()
			tc.mutate(r)
			_, err := Compile(r)
			var fe *FieldError
			if !errors.As(err, &fe) || errors.Is(err, ErrIncomplete) {
				t.Fatalf("Compile = %v, want a FieldError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}

func TestIncomplete(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Resources)
		want   string
	}{
		{"route config", func(r *Resources) { delete(r.Routes, "rc") }, `route configuration "rc" not present`},
		{"cluster", func(r *Resources) { delete(r.Clusters, "c") }, `cluster "c" not present`},
		{"endpoints", func(r *Resources) { delete(r.Endpoints, "c") }, `cluster load assignment "c" not present`},
		{"secret", func(r *Resources) {
			l := r.Listeners["0.0.0.0:8080"]
			l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{
				CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "cert", SdsConfig: adsSource()}}}})}}
		}, `secret "cert" not present`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testResources()
			tc.mutate(r)
			if err := Validate(TypeListener, r); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			_, err := Compile(r)
			if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, want ErrIncomplete mentioning %s", err, tc.want)
			}
		})
	}
}

func TestSNIAndVirtualHostSelection(t *testing.T) {
	var h hostTable[string]
	for _, n := range []string{"*", "exact.example.com", "*.example.com", "*.foo.example.com", "*-bar.example.com", "api.*"} {
		if !h.add(n, n) {
			t.Fatalf("add %s", n)
		}
	}
	if h.add("EXACT.example.com", "dup") {
		t.Fatal("duplicate accepted")
	}
	h.seal()
	for host, want := range map[string]string{
		"exact.example.com":   "exact.example.com",
		"a.foo.example.com":   "*.foo.example.com",
		"a.b.foo.example.com": "*.foo.example.com",
		"foo.example.com":     "*.example.com",
		"x-bar.example.com":   "*-bar.example.com",
		"example.com":         "*",
		"api.test":            "api.*",
		"other":               "*",
	} {
		if got, _ := h.lookup(host); got != want {
			t.Errorf("%s -> %s, want %s", host, got, want)
		}
	}
	rt := &RouteTable{}
	vh := &VirtualHost{Name: "v"}
	rt.hosts.add("example.com", vh)
	rt.hosts.seal()
	for _, a := range []string{"Example.COM", "example.com:8443"} {
		if rt.VirtualHost(a) != vh {
			t.Errorf("%s not matched", a)
		}
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{"a:80": "a", "a": "a", "[::1]:8080": "[::1]", "[::1]": "[::1]", "::1": "::1", "a:": "a:", "1.2.3.4:5": "1.2.3.4"} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	m := &RouteMatch{Kind: PathSeparatedPrefix, Path: "/a"}
	req := &Request{Scheme: "http", Authority: "[::1]:8080", Path: "/a/b", RawQuery: "q=1"}
	tests := []struct {
		r    Redirect
		want string
	}{
		{Redirect{Scheme: "https"}, "https://[::1]/a/b?q=1"},
		{Redirect{Scheme: "https", Port: 443}, "https://[::1]/a/b?q=1"},
		{Redirect{Scheme: "https", Port: 8443}, "https://[::1]:8443/a/b?q=1"},
		{Redirect{Host: "h", PrefixRewrite: "/x", HasPrefixRewrite: true}, "http://h:8080/x/b?q=1"},
		{Redirect{Port: 80}, "http://[::1]/a/b?q=1"},
		{Redirect{Path: "/p?z=2"}, "http://[::1]:8080/p?z=2"},
	}
	for _, tc := range tests {
		if got := tc.r.Location(req, m); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.r, got, tc.want)
		}
	}
}

func TestRE2Substitution(t *testing.T) {
	for in, want := range map[string]string{`/x/\1`: `/x/${1}`, `$a`: `$$a`, `\\`: `\`, `/`: `/`} {
		if got := re2Substitution(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestTLSChains(t *testing.T) {
	r := testResources()
	certPEM, keyPEM := testCert(t)
	r.Secrets["cert"] = &tlsv3.Secret{Name: "cert", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: certPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}}}}}
	l := r.Listeners["0.0.0.0:8080"]
	l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: nameTLSInspector, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})}}}
	https := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
	https.Name = "https"
	https.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"*.example.com"}}
	https.TransportSocket = &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"http/1.1"}, TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "cert", SdsConfig: adsSource()}}}})}}
	pass := &listenerv3.FilterChain{Name: "pass", FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{"db.example.com"}},
		Filters: []*listenerv3.Filter{{Name: nameTCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{StatPrefix: "t", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"}})}}}}
	l.FilterChains = append(l.FilterChains, https, pass)
	cfg, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.Listeners["0.0.0.0:8080"]
	if !cl.Inspect {
		t.Error("inspect not set")
	}
	if c := cl.Chain("www.example.com"); c.Name != "https" || c.TLS == nil || len(c.TLS.Certificates) != 1 {
		t.Errorf("www -> %+v", c)
	}
	if c := cl.Chain("DB.example.com"); c.Name != "pass" || c.TCP == nil || c.TLS != nil {
		t.Errorf("db -> %+v", c)
	}
	if c := cl.Chain(""); c.Name != "http" {
		t.Errorf("no sni -> %+v", c)
	}
	// h2 and http/1.1 are served; anything else would be advertised but
	// not served: rejected.
	https.TransportSocket.GetTypedConfig().Value, _ = proto.Marshal(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2", "http/1.1"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "cert", SdsConfig: adsSource()}}}})
	cfg, err = Compile(r)
	if err != nil {
		t.Fatalf("h2 ALPN: %v", err)
	}
	if got := cfg.Listeners["0.0.0.0:8080"].Chain("www.example.com").TLS.NextProtos; !slices.Equal(got, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos = %v", got)
	}
	https.TransportSocket.GetTypedConfig().Value, _ = proto.Marshal(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h3"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "cert", SdsConfig: adsSource()}}}})
	if _, err := Compile(r); err == nil || !strings.Contains(err.Error(), `unsupported protocol "h3"`) {
		t.Errorf("h3 ALPN: %v", err)
	}
}

func testCert(t *testing.T) ([]byte, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"*.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestDNSEndpointNameLength: a STRICT_DNS endpoint's name may be 253
// characters, and a fully qualified one has a trailing dot on top, which the
// controller's IR accepts too: the two rules once disagreed by that dot, and
// the data plane refused what the controller published.
func TestDNSEndpointNameLength(t *testing.T) {
	name253 := strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a" // 4*63 + 1
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{name253, true},
		{name253 + ".", true},
		{name253 + "a", false},
		{name253 + "a.", false},
		{".", false},
		{"", false},
	} {
		if got := validDNSName(tc.name); got != tc.ok {
			t.Errorf("validDNSName(%d characters, %q...) = %v, want %v", len(tc.name), tc.name[:min(len(tc.name), 8)], got, tc.ok)
		}
	}
}
