package config

import (
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Request body limits (docs/xds-contract.md, "Request body limits"): the
// contract carries the limit in Envoy's buffer filter, but the data plane
// never buffers: it counts the body as it streams (dataplane/proxy
// bodylimit.go).

const nameBuffer = "envoy.filters.http.buffer"

// compileBufferFilter returns max_request_bytes, which Envoy requires and
// requires above 0.
func compileBufferFilter(rep reporter, loc string, f *hcmv3.HttpFilter) (uint32, error) {
	var b bufferv3.Buffer
	if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(&b) != nil {
		return 0, rep.errf(loc, "%q needs a Buffer typed_config", nameBuffer)
	}
	if b.GetMaxRequestBytes().GetValue() == 0 {
		return 0, rep.errf(loc+".typed_config.max_request_bytes", "must be set and at least 1")
	}
	return b.GetMaxRequestBytes().GetValue(), nil
}
