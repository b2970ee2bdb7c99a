package config

import (
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The contract section "TLS towards clients and backends, UDP" as field
// paths (docs/xds-contract.md). Kept apart from allowlist.go so the
// section can be read as one piece; merged into the allowlists at init.
var tlsUDPAllowlist = map[protoreflect.FullName]string{
	fullName(&listenerv3.Listener{}): `
		address.socket_address.protocol`,
	fullName(&tlsv3.DownstreamTlsContext{}): `
		require_client_certificate
		common_tls_context.validation_context_sds_secret_config.name
		common_tls_context.validation_context_sds_secret_config.sds_config.ads
		common_tls_context.validation_context_sds_secret_config.sds_config.resource_api_version
		common_tls_context.combined_validation_context.default_validation_context.trust_chain_verification
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.name
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.sds_config.ads
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.sds_config.resource_api_version`,
	fullName(&udpproxyv3.UdpProxyConfig{}): `
		stat_prefix
		idle_timeout
		matcher.on_no_match.action.name
		matcher.on_no_match.action.typed_config`,
	fullName(&udpproxyv3.Route{}): `
		cluster`,
	fullName(&clusterv3.Cluster{}): `
		transport_socket.name
		transport_socket.typed_config
		common_lb_config.locality_weighted_lb_config
		load_assignment.endpoints.locality.sub_zone
		load_assignment.endpoints.load_balancing_weight`,
	fullName(&tlsv3.UpstreamTlsContext{}): `
		sni
		common_tls_context.tls_certificate_sds_secret_configs.name
		common_tls_context.tls_certificate_sds_secret_configs.sds_config.ads
		common_tls_context.tls_certificate_sds_secret_configs.sds_config.resource_api_version
		common_tls_context.validation_context.system_root_certs
		common_tls_context.validation_context.match_typed_subject_alt_names.san_type
		common_tls_context.validation_context.match_typed_subject_alt_names.matcher.exact
		common_tls_context.validation_context.match_typed_subject_alt_names.matcher.prefix
		common_tls_context.alpn_protocols
		common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.san_type
		common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.matcher.exact
		common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.matcher.prefix
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.name
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.sds_config.ads
		common_tls_context.combined_validation_context.validation_context_sds_secret_config.sds_config.resource_api_version`,
	fullName(&endpointv3.ClusterLoadAssignment{}): `
		endpoints.locality.sub_zone
		endpoints.load_balancing_weight`,
	fullName(&tlsv3.Secret{}): `
		validation_context.trusted_ca.inline_bytes`,
}

var tlsUDPAnyTypes = map[protoreflect.FullName]map[string][]proto.Message{
	fullName(&listenerv3.Listener{}): {
		"listener_filters.typed_config": {&udpproxyv3.UdpProxyConfig{}},
	},
	fullName(&udpproxyv3.UdpProxyConfig{}): {
		"matcher.on_no_match.action.typed_config": {&udpproxyv3.Route{}},
	},
	fullName(&clusterv3.Cluster{}): {
		"transport_socket.typed_config": {&tlsv3.UpstreamTlsContext{}},
	},
}

func init() { mergeAllowlist(tlsUDPAllowlist, tlsUDPAnyTypes) }

// mergeAllowlist adds a contract section kept in its own file (field paths
// and the Any types allowed at a path) to allowlists and anyTypes.
func mergeAllowlist(specs map[protoreflect.FullName]string, types map[protoreflect.FullName]map[string][]proto.Message) {
	for name, spec := range specs {
		set := allowlists[name]
		if set == nil {
			set = map[string]bool{}
			allowlists[name] = set
		}
		for _, p := range strings.Fields(spec) {
			for i := range len(p) {
				if p[i] == '.' {
					set[p[:i]] = true
				}
			}
			set[p] = true
		}
	}
	for root, paths := range types {
		if anyTypes[root] == nil {
			anyTypes[root] = map[string][]proto.Message{}
		}
		for p, ts := range paths {
			anyTypes[root][p] = append(anyTypes[root][p], ts...)
		}
	}
}
