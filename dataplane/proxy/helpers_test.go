package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
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
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// --- proxy under test -------------------------------------------------------

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newProxy(t testing.TB) *Proxy {
	t.Helper()
	p := New(testLogger())
	t.Cleanup(func() { p.Close() })
	return p
}

// applyAll delivers res the way the xDS client does, one type at a time
// with the growing candidate, and fails the test on a NACK.
func applyAll(t testing.TB, p *Proxy, res *config.Resources) {
	t.Helper()
	for _, typ := range []string{config.TypeCluster, config.TypeEndpoint, config.TypeListener, config.TypeRoute, config.TypeSecret} {
		if err := p.Apply(typ, res); err != nil {
			t.Fatalf("Apply(%s): %v", typ, err)
		}
	}
}

func newResources() *config.Resources {
	return &config.Resources{
		Listeners: map[string]*listenerv3.Listener{},
		Routes:    map[string]*routev3.RouteConfiguration{},
		Clusters:  map[string]*clusterv3.Cluster{},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
		Secrets:   map[string]*tlsv3.Secret{},
	}
}

// clone copies the maps (not the messages) so a test can change a copy.
func clone(r *config.Resources) *config.Resources {
	c := newResources()
	for k, v := range r.Listeners {
		c.Listeners[k] = v
	}
	for k, v := range r.Routes {
		c.Routes[k] = v
	}
	for k, v := range r.Clusters {
		c.Clusters[k] = v
	}
	for k, v := range r.Endpoints {
		c.Endpoints[k] = v
	}
	for k, v := range r.Secrets {
		c.Secrets[k] = v
	}
	return c
}

// --- Envoy resource builders -------------------------------------------------

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func sockAddr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func hcm(t testing.TB, routeName string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix:     "http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads(), RouteConfigName: routeName}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}},
	}
}

func hcmFilter(t testing.TB, h *hcmv3.HttpConnectionManager) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)}}
}

func tcpFilter(t testing.TB, weights map[string]uint32) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{StatPrefix: "tcp"}
	if len(weights) == 1 {
		for n := range weights {
			tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: n}
		}
	} else {
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for n, w := range weights {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: n, Weight: w})
		}
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, tp)}}
}

func tlsSocket(t testing.TB, secrets ...string) *corev3.TransportSocket {
	ctc := &tlsv3.CommonTlsContext{AlpnProtocols: []string{"http/1.1"}}
	for _, s := range secrets {
		ctc.TlsCertificateSdsSecretConfigs = append(ctc.TlsCertificateSdsSecretConfigs, &tlsv3.SdsSecretConfig{Name: s, SdsConfig: ads()})
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: ctc})}}
}

func chain(name string, serverNames []string, ts *corev3.TransportSocket, f *listenerv3.Filter) *listenerv3.FilterChain {
	fc := &listenerv3.FilterChain{Name: name, TransportSocket: ts, Filters: []*listenerv3.Filter{f}}
	if len(serverNames) > 0 {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: serverNames}
	}
	return fc
}

// listener builds a listener on 127.0.0.1:port (0 = ephemeral).
func listener(t testing.TB, name string, port uint32, inspect bool, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	l := &listenerv3.Listener{Name: name, Address: sockAddr("127.0.0.1", port), FilterChains: chains}
	if inspect {
		l.ListenerFilters = []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.tls_inspector",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &tlsinspectorv3.TlsInspector{})}}}
	}
	return l
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()}}
}

func lbEndpoints(addrs []string, weights []uint32) []*endpointv3.LocalityLbEndpoints {
	loc := &endpointv3.LocalityLbEndpoints{}
	for i, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		pn, _ := strconv.Atoi(port)
		lb := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(host, uint32(pn))}}}
		if weights != nil {
			lb.LoadBalancingWeight = wrapperspb.UInt32(weights[i])
		}
		loc.LbEndpoints = append(loc.LbEndpoints, lb)
	}
	return []*endpointv3.LocalityLbEndpoints{loc}
}

func cla(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: lbEndpoints(addrs, nil)}
}

// addCluster adds an EDS cluster with its endpoints.
func addCluster(r *config.Resources, name string, addrs ...string) {
	r.Clusters[name] = edsCluster(name)
	r.Endpoints[name] = cla(name, addrs...)
}

func vhost(name string, domains []string, routes ...*routev3.Route) *routev3.VirtualHost {
	return &routev3.VirtualHost{Name: name, Domains: domains, Routes: routes}
}

func routeConfig(name string, vhs ...*routev3.VirtualHost) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: vhs}
}

func prefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func sepPrefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}}
}

func exactMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: p}}
}

func regexMatch(re string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

func exactString(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func regexString(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}}
}

func headerMatch(name string, sm *matcherv3.StringMatcher) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm}}
}

func toCluster(m *routev3.RouteMatch, cluster string) *routev3.Route {
	return &routev3.Route{Match: m, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}}
}

func toWeighted(m *routev3.RouteMatch, weights map[string]uint32) *routev3.Route {
	wc := &routev3.WeightedCluster{}
	for n, w := range weights {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: n, Weight: wrapperspb.UInt32(w)})
	}
	return &routev3.Route{Match: m, Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}}}}
}

// httpSetup serves route configuration rc on an ephemeral HTTP listener and
// returns the proxy, the resources and the listener's base URL.
func httpSetup(t testing.TB, rc *routev3.RouteConfiguration, clusters map[string][]string) (*Proxy, *config.Resources, string) {
	t.Helper()
	p := newProxy(t)
	res := newResources()
	for n, addrs := range clusters {
		addCluster(res, n, addrs...)
	}
	res.Routes[rc.Name] = rc
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, rc.Name))))
	applyAll(t, p, res)
	return p, res, "http://" + p.ListenerAddr("http").String()
}

// --- backends ------------------------------------------------------------------

// echo is what the test backends answer: what they received.
type echo struct {
	Backend string
	Method  string
	URI     string
	Host    string
	Header  http.Header
}

func startBackend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Remove-Me", "1")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		json.NewEncoder(w).Encode(echo{Backend: name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(s.Close)
	return s
}

func backendAddr(s *httptest.Server) string { return s.Listener.Addr().String() }

// client returns a keep-alive HTTP client that never follows redirects.
func client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type result struct {
	status int
	header http.Header
	echo   echo
	body   string
}

func do(t testing.TB, c *http.Client, method, url, host string, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, url, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode, header: resp.Header, body: string(body)}
	json.Unmarshal(body, &res.echo)
	return res
}

// --- certificates ----------------------------------------------------------------

// selfSigned returns a PEM certificate and key for names.
func selfSigned(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func secret(name string, certPEM, keyPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: certPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: keyPEM}},
	}}}
}

// peerCertName dials addr with TLS and SNI sni and returns the first DNS
// name of the certificate it is served (the openssl s_client check).
func peerCertName(t testing.TB, addr, sni string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls dial %s (sni %q): %v", addr, sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].DNSNames[0]
}

func parseEcho(body string) echo {
	var e echo
	json.Unmarshal([]byte(body), &e)
	return e
}
