package xds

import (
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// bufferFilter is the request body limit of an HTTP chain (IR
// HTTPChain.MaxRequestBodyBytes), as Envoy's buffer filter: a request whose
// body exceeds max_request_bytes gets 413. It is an HCM filter, so it lives
// in the Listener: the limit comes from the Gateway, not from routes. The
// edgeway data plane enforces the same limit while streaming (it never
// buffers the body); see docs/xds-contract.md, "Request body limits".
func (t *translator) bufferFilter(maxBytes uint32) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name: wellknown.Buffer,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: t.any(&bufferv3.Buffer{
			MaxRequestBytes: wrapperspb.UInt32(maxBytes),
		})},
	}
}

// withBodyLimit puts the buffer filter right before the router (after
// CORS, so preflights are answered first); 0 leaves the filters as they are.
func (t *translator) withBodyLimit(filters []*hcmv3.HttpFilter, maxBytes uint32) []*hcmv3.HttpFilter {
	if maxBytes == 0 {
		return filters
	}
	n := len(filters)
	out := append([]*hcmv3.HttpFilter{}, filters[:n-1]...)
	return append(out, t.bufferFilter(maxBytes), filters[n-1])
}
