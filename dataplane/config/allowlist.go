package config

import (
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	connlimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/connection_limit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// The allowlists below are docs/xds-contract.md written as field paths. A
// path lists the proto field names from the root message (or from the
// message packed in an Any) down to a leaf; every prefix of a listed path is
// allowed too. Scalar enums whose only allowed value is the default
// (codec_type AUTO, lb_policy ROUND_ROBIN, protocol TCP) are deliberately
// absent: proto3 does not report default scalars as set, so any other value
// is reported as an unsupported field.
var allowlistSpecs = map[protoreflect.FullName]string{
	fullName(&listenerv3.Listener{}): `
		name
		address.socket_address.address
		address.socket_address.port_value
		listener_filters.name
		listener_filters.typed_config
		filter_chains.name
		filter_chains.filter_chain_match.server_names
		filter_chains.transport_socket.name
		filter_chains.transport_socket.typed_config
		filter_chains.filters.name
		filter_chains.filters.typed_config`,
	fullName(&tlsinspectorv3.TlsInspector{}):   ``,
	fullName(&proxyprotocolv3.ProxyProtocol{}): ``,
	fullName(&connlimitv3.ConnectionLimit{}): `
		stat_prefix
		max_connections`,
	fullName(&tlsv3.DownstreamTlsContext{}): `
		common_tls_context.tls_certificate_sds_secret_configs.name
		common_tls_context.tls_certificate_sds_secret_configs.sds_config.ads
		common_tls_context.tls_certificate_sds_secret_configs.sds_config.resource_api_version
		common_tls_context.alpn_protocols`,
	fullName(&hcmv3.HttpConnectionManager{}): `
		stat_prefix
		rds.config_source.ads
		rds.config_source.resource_api_version
		rds.route_config_name
		http_filters.name
		http_filters.typed_config
		common_http_protocol_options.idle_timeout
		request_headers_timeout
		stream_idle_timeout
		use_remote_address
		normalize_path
		merge_slashes
		path_with_escaped_slashes_action
		max_request_headers_kb
		common_http_protocol_options.max_headers_count
		http2_protocol_options.max_concurrent_streams
		http2_protocol_options.initial_stream_window_size
		http2_protocol_options.initial_connection_window_size
		upgrade_configs.upgrade_type`,
	fullName(&routerv3.Router{}): ``,
	fullName(&corsv3.Cors{}):     ``,
	fullName(&bufferv3.Buffer{}): `
		max_request_bytes`,
	fullName(&corsv3.CorsPolicy{}): `
		allow_origin_string_match.exact
		allow_origin_string_match.safe_regex.regex
		allow_methods
		allow_headers
		expose_headers
		max_age
		allow_credentials
		forward_not_matching_preflights`,
	fullName(&tcpproxyv3.TcpProxy{}): `
		stat_prefix
		cluster
		weighted_clusters.clusters.name
		weighted_clusters.clusters.weight`,
	fullName(&routev3.RouteConfiguration{}): `
		name
		virtual_hosts.name
		virtual_hosts.domains
		virtual_hosts.routes.name
		virtual_hosts.routes.match.path
		virtual_hosts.routes.match.path_separated_prefix
		virtual_hosts.routes.match.prefix
		virtual_hosts.routes.match.safe_regex.regex
		virtual_hosts.routes.match.headers.name
		virtual_hosts.routes.match.headers.string_match.exact
		virtual_hosts.routes.match.headers.string_match.safe_regex.regex
		virtual_hosts.routes.match.query_parameters.name
		virtual_hosts.routes.match.query_parameters.string_match.exact
		virtual_hosts.routes.match.query_parameters.string_match.safe_regex.regex
		virtual_hosts.routes.route.cluster
		virtual_hosts.routes.route.weighted_clusters.clusters.name
		virtual_hosts.routes.route.weighted_clusters.clusters.weight
		virtual_hosts.routes.route.prefix_rewrite
		virtual_hosts.routes.route.regex_rewrite.pattern.regex
		virtual_hosts.routes.route.regex_rewrite.substitution
		virtual_hosts.routes.route.host_rewrite_literal
		virtual_hosts.routes.route.timeout
		virtual_hosts.routes.route.retry_policy.retry_on
		virtual_hosts.routes.route.retry_policy.num_retries
		virtual_hosts.routes.route.retry_policy.per_try_timeout
		virtual_hosts.routes.route.retry_policy.retriable_status_codes
		virtual_hosts.routes.route.retry_policy.retry_back_off.base_interval
		virtual_hosts.routes.route.retry_policy.retry_back_off.max_interval
		virtual_hosts.routes.route.request_mirror_policies.cluster
		virtual_hosts.routes.route.request_mirror_policies.runtime_fraction.default_value.numerator
		virtual_hosts.routes.route.request_mirror_policies.runtime_fraction.default_value.denominator
		virtual_hosts.routes.route.weighted_clusters.clusters.request_headers_to_add.header.key
		virtual_hosts.routes.route.weighted_clusters.clusters.request_headers_to_add.header.value
		virtual_hosts.routes.route.weighted_clusters.clusters.request_headers_to_add.append_action
		virtual_hosts.routes.route.weighted_clusters.clusters.request_headers_to_remove
		virtual_hosts.routes.route.weighted_clusters.clusters.response_headers_to_add.header.key
		virtual_hosts.routes.route.weighted_clusters.clusters.response_headers_to_add.header.value
		virtual_hosts.routes.route.weighted_clusters.clusters.response_headers_to_add.append_action
		virtual_hosts.routes.route.weighted_clusters.clusters.response_headers_to_remove
		virtual_hosts.routes.typed_per_filter_config
		virtual_hosts.routes.redirect.scheme_redirect
		virtual_hosts.routes.redirect.host_redirect
		virtual_hosts.routes.redirect.port_redirect
		virtual_hosts.routes.redirect.path_redirect
		virtual_hosts.routes.redirect.prefix_rewrite
		virtual_hosts.routes.redirect.regex_rewrite.pattern.regex
		virtual_hosts.routes.redirect.regex_rewrite.substitution
		virtual_hosts.routes.redirect.response_code
		virtual_hosts.routes.direct_response.status
		virtual_hosts.routes.direct_response.body.inline_string
		virtual_hosts.routes.request_headers_to_add.header.key
		virtual_hosts.routes.request_headers_to_add.header.value
		virtual_hosts.routes.request_headers_to_add.append_action
		virtual_hosts.routes.request_headers_to_remove
		virtual_hosts.routes.response_headers_to_add.header.key
		virtual_hosts.routes.response_headers_to_add.header.value
		virtual_hosts.routes.response_headers_to_add.append_action
		virtual_hosts.routes.response_headers_to_remove`,
	fullName(&clusterv3.Cluster{}): `
		name
		connect_timeout
		type
		eds_cluster_config.eds_config.ads
		eds_cluster_config.eds_config.resource_api_version
		load_assignment.cluster_name
		load_assignment.endpoints.lb_endpoints.endpoint.address.socket_address.address
		load_assignment.endpoints.lb_endpoints.endpoint.address.socket_address.port_value
		load_assignment.endpoints.lb_endpoints.load_balancing_weight
		dns_lookup_family
		circuit_breakers.thresholds.retry_budget.budget_percent.value
		circuit_breakers.thresholds.retry_budget.min_retry_concurrency
		dns_refresh_rate
		typed_extension_protocol_options`,
	fullName(&upstreamhttpv3.HttpProtocolOptions{}): `
		explicit_http_config.http2_protocol_options`,
	fullName(&endpointv3.ClusterLoadAssignment{}): `
		cluster_name
		endpoints.lb_endpoints.endpoint.address.socket_address.address
		endpoints.lb_endpoints.endpoint.address.socket_address.port_value
		endpoints.lb_endpoints.load_balancing_weight`,
	fullName(&tlsv3.Secret{}): `
		name
		tls_certificate.certificate_chain.inline_bytes
		tls_certificate.private_key.inline_bytes`,
}

// anyTypes says which message types may be packed in each Any-valued path.
var anyTypes = map[protoreflect.FullName]map[string][]proto.Message{
	fullName(&listenerv3.Listener{}): {
		"listener_filters.typed_config":               {&proxyprotocolv3.ProxyProtocol{}, &tlsinspectorv3.TlsInspector{}},
		"filter_chains.transport_socket.typed_config": {&tlsv3.DownstreamTlsContext{}},
		"filter_chains.filters.typed_config":          {&connlimitv3.ConnectionLimit{}, &hcmv3.HttpConnectionManager{}, &tcpproxyv3.TcpProxy{}},
	},
	fullName(&hcmv3.HttpConnectionManager{}): {
		"http_filters.typed_config": {&corsv3.Cors{}, &bufferv3.Buffer{}, &routerv3.Router{}},
	},
	fullName(&routev3.RouteConfiguration{}): {
		"virtual_hosts.routes.typed_per_filter_config": {&corsv3.CorsPolicy{}},
	},
	fullName(&clusterv3.Cluster{}): {
		"typed_extension_protocol_options": {&upstreamhttpv3.HttpProtocolOptions{}},
	},
}

// mapKeys lists the keys allowed in map-valued paths; their values are
// checked like any other value at that path (Any: anyTypes).
var mapKeys = map[protoreflect.FullName]map[string][]string{
	fullName(&routev3.RouteConfiguration{}): {
		"virtual_hosts.routes.typed_per_filter_config": {nameCORS},
	},
	fullName(&clusterv3.Cluster{}): {
		"typed_extension_protocol_options": {nameHTTPProtocolOptions},
	},
}

// allowlists is allowlistSpecs expanded: every listed path and each of its
// prefixes.
var allowlists = func() map[protoreflect.FullName]map[string]bool {
	out := make(map[protoreflect.FullName]map[string]bool, len(allowlistSpecs))
	for name, spec := range allowlistSpecs {
		set := map[string]bool{}
		for _, p := range strings.Fields(spec) {
			for i := range len(p) {
				if p[i] == '.' {
					set[p[:i]] = true
				}
			}
			set[p] = true
		}
		out[name] = set
	}
	return out
}()

func fullName(m proto.Message) protoreflect.FullName {
	return m.ProtoReflect().Descriptor().FullName()
}
