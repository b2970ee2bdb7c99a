package config

import (
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	connlimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/connection_limit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Extension names of the edge defences (docs/xds-contract.md, "Edge
// defences and PROXY protocol").
const (
	nameProxyProtocol   = "envoy.filters.listener.proxy_protocol"
	nameConnectionLimit = "envoy.filters.network.connection_limit"
)

// HTTPLimits are the limits an http_connection_manager sets. Zero means
// "not set": the proxy applies its documented default (dataplane/proxy
// limits.go), which is what Envoy does for an unset field too.
type HTTPLimits struct {
	// MaxRequestHeadersKB is max_request_headers_kb (Envoy: 1..8192).
	MaxRequestHeadersKB uint32
	// MaxHeadersCount is common_http_protocol_options.max_headers_count.
	MaxHeadersCount uint32
	// HTTP2 is http2_protocol_options (compile_http2.go).
	HTTP2 HTTP2Limits
}

func compileHTTPLimits(rep reporter, loc string, h *hcmv3.HttpConnectionManager) (HTTPLimits, error) {
	var l HTTPLimits
	if v := h.GetMaxRequestHeadersKb(); v != nil {
		if v.GetValue() < 1 || v.GetValue() > 8192 {
			return l, rep.errf(loc+".max_request_headers_kb", "%d out of range 1..8192", v.GetValue())
		}
		l.MaxRequestHeadersKB = v.GetValue()
	}
	if v := h.GetCommonHttpProtocolOptions().GetMaxHeadersCount(); v != nil {
		if v.GetValue() < 1 {
			return l, rep.errf(loc+".common_http_protocol_options.max_headers_count", "must be at least 1")
		}
		l.MaxHeadersCount = v.GetValue()
	}
	var err error
	l.HTTP2, err = compileHTTP2Limits(rep, loc+".http2_protocol_options", h.GetHttp2ProtocolOptions())
	return l, err
}

// compileListenerFilters accepts, in Envoy's required order, an optional
// proxy_protocol filter (it must read the PROXY header before anything else
// looks at the stream) and an optional tls_inspector.
func compileListenerFilters(rep reporter, lf []*listenerv3.ListenerFilter) (proxyProtocol, inspect bool, err error) {
	i := 0
	if i < len(lf) && lf[i].GetName() == nameProxyProtocol {
		var pp proxyprotocolv3.ProxyProtocol
		if lf[i].GetTypedConfig() == nil || lf[i].GetTypedConfig().UnmarshalTo(&pp) != nil {
			return false, false, rep.errf("listener_filters[0]", "%q needs a ProxyProtocol typed_config", nameProxyProtocol)
		}
		proxyProtocol = true
		i++
	}
	if i < len(lf) {
		if lf[i].GetName() != nameTLSInspector || lf[i].GetTypedConfig() == nil {
			return false, false, rep.errf(listenerFilterLoc(i), "only %q (first) and %q with their typed_config are supported", nameProxyProtocol, nameTLSInspector)
		}
		inspect = true
		i++
	}
	if i < len(lf) {
		return false, false, rep.errf(listenerFilterLoc(i), "unsupported listener filter %q: at most proxy_protocol then tls_inspector", lf[i].GetName())
	}
	return proxyProtocol, inspect, nil
}

func listenerFilterLoc(i int) string {
	return "listener_filters[" + strconv.Itoa(i) + "]"
}

// splitConnectionLimit takes an optional leading connection_limit filter off
// a chain's filters and returns its max_connections (0: none) and the
// remaining filters.
func splitConnectionLimit(rep reporter, loc string, filters []*listenerv3.Filter) (uint64, []*listenerv3.Filter, error) {
	if len(filters) == 0 || filters[0].GetName() != nameConnectionLimit {
		return 0, filters, nil
	}
	floc := loc + ".filters[0]"
	var cl connlimitv3.ConnectionLimit
	if filters[0].GetTypedConfig() == nil || filters[0].GetTypedConfig().UnmarshalTo(&cl) != nil {
		return 0, nil, rep.errf(floc, "%q needs a ConnectionLimit typed_config", nameConnectionLimit)
	}
	if cl.GetStatPrefix() == "" {
		return 0, nil, rep.errf(floc+".typed_config.stat_prefix", "stat_prefix is required")
	}
	if cl.GetMaxConnections().GetValue() < 1 {
		return 0, nil, rep.errf(floc+".typed_config.max_connections", "must be at least 1")
	}
	return cl.GetMaxConnections().GetValue(), filters[1:], nil
}
