package xds

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
)

// proxyProtocolFilter reads the PROXY protocol v1/v2 header a cloud load
// balancer puts before each connection, so that X-Forwarded-For and the
// access log carry the real client address. Defaults only: a connection
// without the header is closed (allow_requests_without_proxy_protocol
// false), as a header-less connection on such a listener did not come
// through the load balancer.
func (t *translator) proxyProtocolFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.proxy_protocol",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: t.any(&proxyprotocolv3.ProxyProtocol{})},
	}
}
