package config

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The contract section "ACME TLS-ALPN-01 challenge chains"
// (docs/xds-contract.md) as field paths. The direct_response Config allows
// no field at all: only the empty response (close after the handshake) is
// implemented. Which chains may use these fields is checked in
// compile_acme.go.
var acmeAllowlist = map[protoreflect.FullName]string{
	fullName(&listenerv3.Listener{}): `
		filter_chains.filter_chain_match.application_protocols`,
	fullName(&directresponsev3.Config{}): ``,
}

var acmeAnyTypes = map[protoreflect.FullName]map[string][]proto.Message{
	fullName(&listenerv3.Listener{}): {
		"filter_chains.filters.typed_config": {&directresponsev3.Config{}},
	},
}

func init() { mergeAllowlist(acmeAllowlist, acmeAnyTypes) }
