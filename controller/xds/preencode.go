package xds

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// routeConfigurationVirtualHosts is RouteConfiguration.virtual_hosts' field
// number: its elements are what preEncoded splices in as wire forms.
const routeConfigurationVirtualHosts protowire.Number = 2

// preEncoded returns the RouteConfiguration go-control-plane publishes
// for rc: rc's name as a field and everything else, virtual hosts first,
// as already encoded bytes in its unknown fields. go-control-plane
// marshals each published resource once per snapshot; at thousands of
// virtual hosts that marshal of the whole configuration was the largest
// cost of a change of one route left on the controller's side of the
// stream. Here the unchanged virtual hosts' wire forms (entries, recorded
// by contentVersion) are copied instead.
//
// The bytes are those of rc's deterministic marshal: fields in number
// order, name (1), then each virtual host (2) in order, then the rest,
// which is marshalled without name and virtual hosts; a marshal writes
// known fields before unknown ones. TestPreEncodedIsTheMarshal holds it
// to that. A reader decodes the result exactly as rc.
//
// entries is nil when rc's virtual hosts' wire forms are not known; rc is
// then published as it is.
func preEncoded(rc *routev3.RouteConfiguration, entries []translatedVHost) (types.Resource, error) {
	if entries == nil || len(entries) != len(rc.VirtualHosts) {
		return rc, nil
	}
	size := 0
	for _, e := range entries {
		if e.wire == nil {
			return rc, nil
		}
		size += protowire.SizeTag(routeConfigurationVirtualHosts) + protowire.SizeBytes(len(e.wire))
	}
	// rc is the translation's own until it is published.
	name, vhs := rc.Name, rc.VirtualHosts
	rc.Name, rc.VirtualHosts = "", nil
	rest, err := deterministic.Marshal(rc)
	rc.Name, rc.VirtualHosts = name, vhs
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 0, size+len(rest))
	for _, e := range entries {
		raw = protowire.AppendTag(raw, routeConfigurationVirtualHosts, protowire.BytesType)
		raw = protowire.AppendBytes(raw, e.wire)
	}
	raw = append(raw, rest...)
	out := &routev3.RouteConfiguration{Name: name}
	out.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
	return out, nil
}

// preEncodedRouteConfigurations is rs with each RouteConfiguration
// replaced by its preEncoded form (a new slice; rs is left as it is).
func preEncodedRouteConfigurations(rs []types.Resource, vhosts vhostReuse) ([]types.Resource, error) {
	out := make([]types.Resource, len(rs))
	for i, r := range rs {
		out[i] = r
		if rc, ok := r.(*routev3.RouteConfiguration); ok {
			p, err := preEncoded(rc, translatedVHostsOf(vhosts, rc))
			if err != nil {
				return nil, fmt.Errorf("%s %q cannot be encoded: %w", typeName(resource.RouteType), rc.Name, err)
			}
			out[i] = p
		}
	}
	return out, nil
}
