package xds

import (
	"cmp"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

// Filter chain names of the single chain of a plaintext socket.
const (
	httpChainName = "http"
	tcpChainName  = "tcp"
)

// listener builds the Listener for one socket. It only refers to routes,
// clusters and secrets by name (RDS, cluster names, SDS), so it changes only
// when the socket or its chains change, never on a route, endpoint or
// certificate edit: Envoy and the data plane drain a listener whose resource
// changes, which would cost connections.
func (t *translator) listener(l *ir.Listener) *listenerv3.Listener {
	out := &listenerv3.Listener{
		Name: l.Name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       l.Address,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: l.Port},
		}}},
	}
	switch {
	case l.HTTP != nil:
		out.FilterChains = []*listenerv3.FilterChain{{
			Name:    httpChainName,
			Filters: []*listenerv3.Filter{t.httpConnectionManager(l.Name+"/"+httpChainName, l.HTTP)},
		}}
	case l.UDP != nil:
		t.udpListener(out, l)
	case l.TCP != nil:
		out.FilterChains = []*listenerv3.FilterChain{{
			Name:    tcpChainName,
			Filters: []*listenerv3.Filter{t.tcpProxy(l.Name+"/"+tcpChainName, l.TCP.Backends)},
		}}
	default:
		// SNI is only known after peeking at the ClientHello.
		out.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       wellknown.TLSInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: t.any(&tlsinspectorv3.TlsInspector{})},
		}}
		chains := append(slices.Clone(l.TLS), acmeFallthroughChains(l.TLS)...)
		slices.SortFunc(chains, func(a, b *ir.TLSChain) int { return cmp.Compare(a.Name, b.Name) })
		for _, c := range chains {
			out.FilterChains = append(out.FilterChains, t.tlsChain(l.Name, c))
		}
	}
	if l.ProxyProtocol && l.UDP == nil {
		// Before the tls_inspector: the PROXY header comes first on the wire.
		out.ListenerFilters = append([]*listenerv3.ListenerFilter{t.proxyProtocolFilter()}, out.ListenerFilters...)
	}
	return out
}

// tlsChain is one SNI-selected chain: termination (TLS transport socket with
// SDS certificates, then HTTP) or passthrough (tcp_proxy on the raw stream),
// an ACME TLS-ALPN-01 challenge (acme.go), or a refusing chain. A chain without server names
// gets no match at all: it is the default.
func (t *translator) tlsChain(listener string, c *ir.TLSChain) *listenerv3.FilterChain {
	if c.ACMEChallenge != nil {
		return t.acmeChallengeChain(c)
	}
	fc := &listenerv3.FilterChain{Name: c.Name}
	if len(c.ServerNames) > 0 {
		names := slices.Clone(c.ServerNames)
		slices.Sort(names)
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
	}
	if c.Refuse {
		// The empty direct_response with no transport socket closes the
		// connection as soon as the chain is chosen: no handshake, no
		// bytes (Envoy and the edgeway data plane alike).
		fc.Filters = []*listenerv3.Filter{t.directResponse()}
		return fc
	}
	statPrefix := listener + "/" + c.Name
	if c.Terminate != nil {
		fc.TransportSocket = t.downstreamTLS(c.Terminate)
		if c.Terminate.TCP != nil {
			fc.Filters = []*listenerv3.Filter{t.tcpProxy(statPrefix, c.Terminate.TCP.Backends)}
		} else {
			fc.Filters = []*listenerv3.Filter{t.httpConnectionManager(statPrefix, c.Terminate.HTTP)}
		}
	} else {
		fc.Filters = []*listenerv3.Filter{t.tcpProxy(statPrefix, c.Passthrough.Backends)}
	}
	return fc
}

// downstreamTLS references the certificates by SDS name so that a renewal is
// an SDS push and never touches the listener.
func (t *translator) downstreamTLS(term *ir.TLSTerminate) *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}}
	if term.HTTP != nil {
		// ALPN only for HTTP: a TLS-terminated TCP stream is opaque.
		ctx.CommonTlsContext.AlpnProtocols = slices.Clone(downstreamALPN)
	}
	clientValidation(ctx, term.ClientValidation)
	for _, name := range term.Certificates {
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
			&tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsConfigSource()})
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.any(ctx)},
	}
}

// httpConnectionManager serves HTTP with routes fetched over RDS.
//
// use_remote_address: this is the edge, so the peer address is the client and
// is appended to X-Forwarded-For. normalize_path: RFC 3986 normalization
// before routing, so "/public/../admin" cannot slip past a prefix route.
func (t *translator) httpConnectionManager(statPrefix string, chain *ir.HTTPChain) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: chain.RouteTable,
		}},
		// CORS is always present (inert without a route's per-filter
		// config) so that a CORS edit stays an RDS change.
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.CORS,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: t.any(&corsv3.Cors{})},
		}, {
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: t.any(&routerv3.Router{})},
		}},
		UseRemoteAddress: wrapperspb.Bool(true),
		NormalizePath:    wrapperspb.Bool(true),
		UpgradeConfigs:   upgradeConfigs(),
	}
	hcm.HttpFilters = t.withBodyLimit(hcm.HttpFilters, chain.MaxRequestBodyBytes)
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: t.any(hcm)},
	}
}

// tcpProxy proxies the stream to one backend or splits connections by
// weight. Zero-weight backends are dropped: they never receive traffic and
// tcp_proxy requires weights >= 1 (Validate guarantees one positive weight).
func (t *translator) tcpProxy(statPrefix string, backends []ir.WeightedCluster) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix}
	var live []ir.WeightedCluster
	for _, b := range backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	if len(live) == 1 {
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: live[0].Cluster}
	} else {
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for _, b := range live {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: b.Cluster, Weight: b.Weight})
		}
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	return &listenerv3.Filter{
		Name:       wellknown.TCPProxy,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: t.any(tp)},
	}
}
