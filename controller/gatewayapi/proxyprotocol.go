package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ProxyProtocolAnnotation turns on PROXY protocol (v1 and v2) for every
// listener of a Gateway. Gateway API v1.6 has no field for it; this
// annotation is a typed boolean, "true" or "false", and never carries proxy
// configuration. It belongs on the Gateway because the load balancer in
// front of it is per Gateway.
const ProxyProtocolAnnotation = "gateway.edgeway.dev/proxy-protocol"

// gatewayProxyProtocol reads the annotation. Any other value than "true"
// or "false" rejects the Gateway: guessing would either drop every
// connection from the load balancer or trust client-sent headers.
func gatewayProxyProtocol(gw *gwv1.Gateway) (bool, problem) {
	v, ok := gw.Annotations[ProxyProtocolAnnotation]
	switch {
	case !ok || v == "false":
		return false, problem{}
	case v == "true":
		return true, problem{}
	}
	return false, problem{string(gwv1.GatewayReasonInvalidParameters),
		fmt.Sprintf("metadata.annotations[%q]: %q is not \"true\" or \"false\"", ProxyProtocolAnnotation, v)}
}

// proxyProtocol: a socket shared by several Gateways (same address and
// port, standalone mode) reads PROXY headers if any of them asks: the
// header must be parsed wherever a load balancer sends it.
func (s *socket) proxyProtocol() bool {
	for _, l := range s.listeners {
		if l.gw.proxyProtocol {
			return true
		}
	}
	return false
}
