package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Well-known extension names of the contract; a name that disagrees with
// its typed_config is rejected, as Envoy would.
const (
	nameTLSInspector = "envoy.filters.listener.tls_inspector"
	nameTLSSocket    = "envoy.transport_sockets.tls"
	nameHCM          = "envoy.filters.network.http_connection_manager"
	nameTCPProxy     = "envoy.filters.network.tcp_proxy"
	nameRouter       = "envoy.filters.http.router"
)

// chainTLS is what a terminating chain needs from SDS, resolved in link.
type chainTLS struct {
	secrets []string
	alpn    []string
	client  *clientValidation // nil: no client certificates
}

// compiledListener carries the unresolved references of a listener.
type compiledListener struct {
	*Listener
	tls map[*FilterChain]chainTLS
}

func compileListener(name string, pl *listenerv3.Listener) (*compiledListener, error) {
	return compileListenerChecked(name, pl, false)
}

// compileListenerChecked is compileListener that skips the walk over every
// field when checked: the message passed it in an earlier compile (a
// Compiler's listenerChecks).
func compileListenerChecked(name string, pl *listenerv3.Listener, checked bool) (*compiledListener, error) {
	rep := reporter{kind: "listener", name: name}
	if pl == nil {
		return nil, rep.errf("", "resource is empty")
	}
	if !checked {
		if err := checkFields(rep, pl); err != nil {
			return nil, err
		}
	}
	if pl.GetName() != name {
		return nil, rep.errf("name", "resource name %q differs from its key", pl.GetName())
	}
	sa := pl.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, rep.errf("address", "socket_address is required")
	}
	ip := net.ParseIP(sa.GetAddress())
	if ip == nil {
		return nil, rep.errf("address.socket_address.address", "%q is not an IP address", sa.GetAddress())
	}
	if sa.GetPortValue() > 65535 {
		return nil, rep.errf("address.socket_address.port_value", "port %d out of range", sa.GetPortValue())
	}
	l := &compiledListener{
		Listener: &Listener{Name: name, Address: net.JoinHostPort(ip.String(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))},
		tls:      map[*FilterChain]chainTLS{},
	}
	if sa.GetProtocol() == corev3.SocketAddress_UDP {
		return compileUDPListener(rep, l, pl)
	}
	pp, inspect, err := compileListenerFilters(rep, pl.GetListenerFilters())
	if err != nil {
		return nil, err
	}
	l.ProxyProtocol, l.Inspect = pp, inspect
	if len(pl.GetFilterChains()) == 0 {
		return nil, rep.errf("filter_chains", "at least one filter chain is required")
	}
	// sets: the chains sharing one server-name match, by lower-cased name
	// ("" for the chains without server names).
	sets := map[string]*chainSet{}
	for i, pc := range pl.GetFilterChains() {
		loc := fmt.Sprintf("filter_chains[%d]", i)
		fc, ctls, err := compileChain(rep, loc, pc)
		if err != nil {
			return nil, err
		}
		if ctls != nil {
			l.tls[fc] = *ctls
		}
		if len(fc.ServerNames) == 0 {
			if err := l.addChain(sets, "", fc); err != nil {
				return nil, rep.errf(loc, "more than one filter chain without server_names")
			}
		}
		for j, sn := range fc.ServerNames {
			if !validHostPattern(sn, false) || sn == "*" {
				return nil, rep.errf(fmt.Sprintf("%s.filter_chain_match.server_names[%d]", loc, j), "invalid server name %q", sn)
			}
			if err := l.addChain(sets, sn, fc); err != nil {
				return nil, rep.errf(fmt.Sprintf("%s.filter_chain_match.server_names[%d]", loc, j), "%v", err)
			}
			// Envoy injects the tls_inspector when server names are matched.
			l.Inspect = true
		}
		l.Chains = append(l.Chains, fc)
	}
	l.sni.seal()
	return l, nil
}

// addChain files fc under one of its server names ("" for none): beside the
// chains of the same name as long as no two of them match the same
// application protocols (Envoy rejects such duplicate matches).
func (l *compiledListener) addChain(sets map[string]*chainSet, serverName string, fc *FilterChain) error {
	key := strings.ToLower(serverName)
	s := sets[key]
	if s == nil {
		s = &chainSet{}
		sets[key] = s
		l.sni.add(key, s)
	}
	if len(fc.ApplicationProtocols) == 0 {
		if s.plain != nil {
			return fmt.Errorf("server name %q is used by more than one filter chain", serverName)
		}
		s.plain = fc
		return nil
	}
	for _, p := range fc.ApplicationProtocols {
		if s.byProto[p] != nil {
			return fmt.Errorf("server name %q with application protocol %q is used by more than one filter chain", serverName, p)
		}
		if s.byProto == nil {
			s.byProto = map[string]*FilterChain{}
		}
		s.byProto[p] = fc
	}
	return nil
}

func compileChain(rep reporter, loc string, pc *listenerv3.FilterChain) (*FilterChain, *chainTLS, error) {
	fc := &FilterChain{Name: pc.GetName(), ServerNames: pc.GetFilterChainMatch().GetServerNames()}
	protos, err := compileApplicationProtocols(rep, loc, pc.GetFilterChainMatch().GetApplicationProtocols())
	if err != nil {
		return nil, nil, err
	}
	fc.ApplicationProtocols = protos
	challenge := len(protos) > 0
	var ctls *chainTLS
	if ts := pc.GetTransportSocket(); ts != nil {
		if ts.GetName() != nameTLSSocket || ts.GetTypedConfig() == nil {
			return nil, nil, rep.errf(loc+".transport_socket", "only %q with a DownstreamTlsContext typed_config is supported", nameTLSSocket)
		}
		var dtc tlsv3.DownstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&dtc); err != nil {
			return nil, nil, rep.errf(loc+".transport_socket.typed_config", "%v", err)
		}
		ctls = &chainTLS{}
		ctc := dtc.GetCommonTlsContext()
		for i, sds := range ctc.GetTlsCertificateSdsSecretConfigs() {
			sloc := fmt.Sprintf("%s.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[%d]", loc, i)
			if sds.GetName() == "" {
				return nil, nil, rep.errf(sloc+".name", "secret name is required")
			}
			if err := checkADS(rep, sloc+".sds_config", sds.GetSdsConfig()); err != nil {
				return nil, nil, err
			}
			ctls.secrets = append(ctls.secrets, sds.GetName())
		}
		if len(ctls.secrets) == 0 {
			return nil, nil, rep.errf(loc+".transport_socket.typed_config.common_tls_context", "tls_certificate_sds_secret_configs is required")
		}
		if ctls.alpn, err = compileALPN(rep, loc+".transport_socket.typed_config.common_tls_context.alpn_protocols", ctc.GetAlpnProtocols(), challenge); err != nil {
			return nil, nil, err
		}
		cv, err := compileClientValidation(rep, loc+".transport_socket.typed_config", &dtc)
		if err != nil {
			return nil, nil, err
		}
		ctls.client = cv
	}
	maxConns, filters, err := splitConnectionLimit(rep, loc, pc.GetFilters())
	if err != nil {
		return nil, nil, err
	}
	fc.MaxConnections = maxConns
	if len(filters) != 1 {
		return nil, nil, rep.errf(loc+".filters", "exactly one network filter is required, got %d", len(filters))
	}
	floc := fmt.Sprintf("%s.filters[%d]", loc, len(pc.GetFilters())-1)
	f := filters[0]
	if f.GetTypedConfig() == nil {
		return nil, nil, rep.errf(floc, "typed_config is required")
	}
	switch f.GetName() {
	case nameHCM:
		var h hcmv3.HttpConnectionManager
		if err := f.GetTypedConfig().UnmarshalTo(&h); err != nil {
			return nil, nil, rep.errf(floc+".typed_config", "%v", err)
		}
		m, err := compileHCM(rep, floc+".typed_config", &h)
		if err != nil {
			return nil, nil, err
		}
		fc.HTTP = m
	case nameTCPProxy:
		var t tcpproxyv3.TcpProxy
		if err := f.GetTypedConfig().UnmarshalTo(&t); err != nil {
			return nil, nil, rep.errf(floc+".typed_config", "%v", err)
		}
		p, err := compileTCPProxy(rep, floc+".typed_config", &t)
		if err != nil {
			return nil, nil, err
		}
		fc.TCP = p
	case nameDirectResponse:
		// Its Config allows no field (checkFields): the empty response.
		fc.DirectResponse = &NetworkDirectResponse{}
	default:
		return nil, nil, rep.errf(floc+".name", "unsupported network filter %q", f.GetName())
	}
	if err := checkChallengeShape(rep, loc, floc, fc, ctls); err != nil {
		return nil, nil, err
	}
	return fc, ctls, nil
}

func compileHCM(rep reporter, loc string, h *hcmv3.HttpConnectionManager) (*HTTPManager, error) {
	if h.GetStatPrefix() == "" {
		return nil, rep.errf(loc+".stat_prefix", "stat_prefix is required")
	}
	rds := h.GetRds()
	if rds == nil {
		return nil, rep.errf(loc, "rds is required")
	}
	if err := checkADS(rep, loc+".rds.config_source", rds.GetConfigSource()); err != nil {
		return nil, err
	}
	if rds.GetRouteConfigName() == "" {
		return nil, rep.errf(loc+".rds.route_config_name", "route_config_name is required")
	}
	cors, maxBody, err := compileHTTPFilters(rep, loc+".http_filters", h.GetHttpFilters())
	if err != nil {
		return nil, err
	}
	m := &HTTPManager{StatPrefix: h.GetStatPrefix(), RouteConfigName: rds.GetRouteConfigName(),
		UseRemoteAddress: h.GetUseRemoteAddress().GetValue(), NormalizePath: h.GetNormalizePath().GetValue(),
		MergeSlashes: h.GetMergeSlashes(), CORS: cors, MaxRequestBodyBytes: maxBody}
	if m.IdleTimeout, err = duration(rep, loc+".common_http_protocol_options.idle_timeout", h.GetCommonHttpProtocolOptions().GetIdleTimeout()); err != nil {
		return nil, err
	}
	if m.RequestHeadersTimeout, err = duration(rep, loc+".request_headers_timeout", h.GetRequestHeadersTimeout()); err != nil {
		return nil, err
	}
	if m.StreamIdleTimeout, err = duration(rep, loc+".stream_idle_timeout", h.GetStreamIdleTimeout()); err != nil {
		return nil, err
	}
	if m.Limits, err = compileHTTPLimits(rep, loc, h); err != nil {
		return nil, err
	}
	if m.Upgrades, err = compileUpgrades(rep, loc, h); err != nil {
		return nil, err
	}
	switch h.GetPathWithEscapedSlashesAction() {
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
		m.EscapedSlashes = EscapedSlashesKeep
	case hcmv3.HttpConnectionManager_REJECT_REQUEST:
		m.EscapedSlashes = EscapedSlashesReject
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
		m.EscapedSlashes = EscapedSlashesUnescapeAndRedirect
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		m.EscapedSlashes = EscapedSlashesUnescapeAndForward
	default:
		return nil, rep.errf(loc+".path_with_escaped_slashes_action", "unsupported value %v", h.GetPathWithEscapedSlashesAction())
	}
	return m, nil
}

func compileTCPProxy(rep reporter, loc string, t *tcpproxyv3.TcpProxy) (*TCPProxy, error) {
	if t.GetStatPrefix() == "" {
		return nil, rep.errf(loc+".stat_prefix", "stat_prefix is required")
	}
	p := &TCPProxy{StatPrefix: t.GetStatPrefix()}
	switch c := t.GetClusterSpecifier().(type) {
	case *tcpproxyv3.TcpProxy_Cluster:
		if c.Cluster == "" {
			return nil, rep.errf(loc+".cluster", "cluster name is empty")
		}
		p.Clusters = WeightedClusters{Entries: []WeightedCluster{{Name: c.Cluster, Weight: 1}}, total: 1}
	case *tcpproxyv3.TcpProxy_WeightedClusters:
		for i, wc := range c.WeightedClusters.GetClusters() {
			if wc.GetName() == "" {
				return nil, rep.errf(fmt.Sprintf("%s.weighted_clusters.clusters[%d].name", loc, i), "cluster name is empty")
			}
			p.Clusters.Entries = append(p.Clusters.Entries, WeightedCluster{Name: wc.GetName(), Weight: wc.GetWeight()})
			p.Clusters.total += uint64(wc.GetWeight())
		}
		if p.Clusters.total == 0 {
			return nil, rep.errf(loc+".weighted_clusters", "at least one cluster with a weight above 0 is required")
		}
	default:
		return nil, rep.errf(loc, "cluster or weighted_clusters is required")
	}
	return p, nil
}

// checkADS requires {ads: {}, resource_api_version: V3}, the only config
// source of the contract.
func checkADS(rep reporter, loc string, cs *corev3.ConfigSource) error {
	if cs.GetAds() == nil {
		return rep.errf(loc, "only ads config sources are supported")
	}
	if cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
		return rep.errf(loc+".resource_api_version", "must be V3")
	}
	return nil
}

// duration converts an optional Duration; 0 when unset.
func duration(rep reporter, loc string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if d.CheckValid() != nil || d.AsDuration() < 0 {
		return 0, rep.errf(loc, "invalid duration")
	}
	return d.AsDuration(), nil
}
