package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/controller/ir"
)

// httpProtocolOptionsKey is the typed_extension_protocol_options key Envoy
// requires for HttpProtocolOptions (the extension's name).
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// downstreamALPN is what every terminating HTTPS chain advertises: HTTP/2
// first (GRPCRoute over HTTPS needs it, Gateway API requires ALPN h2), then
// HTTP/1.1 for everything else, WebSocket included.
var downstreamALPN = []string{"h2", "http/1.1"}

// upgradeTypes are the HTTP/1.1 upgrades every HTTP connection manager lets
// through (Envoy answers 403 to any other).
var upgradeTypes = []string{"websocket"}

// upstreamProtocol sets the cluster's HTTP version. HTTP/1.1 is Envoy's
// default and needs nothing; HTTP/2 is explicit http2_protocol_options
// (prior knowledge: h2c on plaintext, h2 over TLS).
func (t *translator) upstreamProtocol(out *clusterv3.Cluster, p ir.UpstreamProtocol) {
	if p != ir.ProtocolHTTP2 {
		return
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	}
	if out.TypedExtensionProtocolOptions == nil {
		out.TypedExtensionProtocolOptions = map[string]*anypb.Any{}
	}
	out.TypedExtensionProtocolOptions[httpProtocolOptionsKey] = t.any(opts)
}

// upgradeConfigs lists upgradeTypes for an HTTP connection manager.
func upgradeConfigs() []*hcmv3.HttpConnectionManager_UpgradeConfig {
	out := make([]*hcmv3.HttpConnectionManager_UpgradeConfig, 0, len(upgradeTypes))
	for _, u := range upgradeTypes {
		out = append(out, &hcmv3.HttpConnectionManager_UpgradeConfig{UpgradeType: u})
	}
	return out
}
