package config

import (
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// nameHTTPProtocolOptions is the typed_extension_protocol_options key of
// the upstream HTTP protocol options; Envoy requires the key to name the
// packed type's extension.
const nameHTTPProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// compileUpstreamProtocol reads the cluster's HttpProtocolOptions: absent
// means HTTP/1.1, explicit_http_config.http2_protocol_options HTTP/2 (h2c on
// plain connections). The allowlist already rejected every other field and
// key.
func compileUpstreamProtocol(rep reporter, pc *clusterv3.Cluster) (UpstreamProtocol, error) {
	opts := pc.GetTypedExtensionProtocolOptions()
	a, ok := opts[nameHTTPProtocolOptions]
	if !ok {
		return UpstreamHTTP1, nil
	}
	loc := fmt.Sprintf("typed_extension_protocol_options[%q]", nameHTTPProtocolOptions)
	var hpo upstreamhttpv3.HttpProtocolOptions
	if a == nil || a.UnmarshalTo(&hpo) != nil {
		return 0, rep.errf(loc, "must be an %s", nameHTTPProtocolOptions)
	}
	if hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		return 0, rep.errf(loc, "explicit_http_config.http2_protocol_options is required (omit the options for HTTP/1.1)")
	}
	return UpstreamHTTP2, nil
}

// compileUpgrades reads upgrade_configs: the upgrade types (e.g.
// "websocket") an HTTP/1.1 client may ask for on this connection manager.
func compileUpgrades(rep reporter, loc string, h *hcmv3.HttpConnectionManager) ([]string, error) {
	var out []string
	for i, u := range h.GetUpgradeConfigs() {
		t := strings.ToLower(u.GetUpgradeType())
		if t == "" {
			return nil, rep.errf(fmt.Sprintf("%s.upgrade_configs[%d].upgrade_type", loc, i), "upgrade_type is required")
		}
		out = append(out, t)
	}
	return out, nil
}
