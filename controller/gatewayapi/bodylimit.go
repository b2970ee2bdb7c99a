package gatewayapi

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MaxRequestBodyBytesAnnotation bounds the request body of every HTTP and
// HTTPS listener of a Gateway ("request body limits where configured").
// Gateway API v1.6 has no field for it; like the PROXY protocol annotation
// it is one typed value, never proxy configuration: a byte count written as
// an integer ("10485760") or a Kubernetes quantity ("10Mi", "1G").
const MaxRequestBodyBytesAnnotation = "gateway.edgeway.dev/max-request-body-bytes"

// maxBodyLimit is the largest limit: Envoy's buffer filter carries it in a
// UInt32Value (max_request_bytes).
const maxBodyLimit = math.MaxUint32

// gatewayMaxRequestBody reads the annotation; 0 means unlimited. A value
// that is not a whole number of bytes in 1..4294967295 rejects the Gateway:
// silently ignoring it would leave the upstreams unprotected.
func gatewayMaxRequestBody(gw *gwv1.Gateway) (uint32, problem) {
	v, ok := gw.Annotations[MaxRequestBodyBytesAnnotation]
	if !ok {
		return 0, problem{}
	}
	bad := func(why string) (uint32, problem) {
		return 0, problem{string(gwv1.GatewayReasonInvalidParameters),
			fmt.Sprintf("metadata.annotations[%q]: %q %s", MaxRequestBodyBytesAnnotation, v, why)}
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return bad("is not a byte count (an integer like \"10485760\" or a quantity like \"10Mi\")")
	}
	n, exact := q.AsInt64()
	switch {
	case !exact:
		return bad("is not a whole number of bytes")
	case n < 1 || n > maxBodyLimit:
		return bad(fmt.Sprintf("is out of range 1..%d bytes", uint64(maxBodyLimit)))
	}
	return uint32(n), problem{}
}

// maxRequestBody of a plain HTTP socket shared by several Gateways
// (standalone mode): the smallest limit any of them sets. A defence that
// one Gateway asks for holds on the whole socket, as for PROXY protocol;
// 0 when none sets one.
func (s *socket) maxRequestBody() uint32 {
	var out uint32
	for _, l := range s.listeners {
		if m := l.gw.maxRequestBody; m > 0 && (out == 0 || m < out) {
			out = m
		}
	}
	return out
}
