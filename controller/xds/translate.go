// Package xds turns edgeway's IR into Envoy v3 xDS resources (exactly the
// subset in docs/xds-contract.md) and serves them over ADS with
// go-control-plane's snapshot cache.
package xds

import (
	"cmp"
	"fmt"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/controller/ir"
)

// Types are the five resource types edgeway publishes, in the order the
// data plane subscribes to them (CDS, EDS, LDS, RDS, SDS).
var Types = []resource.Type{
	resource.ClusterType,
	resource.EndpointType,
	resource.ListenerType,
	resource.RouteType,
	resource.SecretType,
}

// Translate validates x and turns it into Envoy resources keyed by type URL.
// Every one of Types is present in the result (possibly with no resources)
// so that a publisher can tell "no secrets" from "secrets unknown". Within a
// type, resources are sorted by name.
//
// Route tables that no listener references are left out: RDS must hold
// exactly the route configurations LDS references (the snapshot cache's
// consistency rule), and such a table could never be served anyway.
//
// Every resource passes its generated ValidateAll() and encodes; a resource
// that does not is reported by type and name instead of being published for
// a data plane to NACK.
func Translate(x *ir.IR) (map[resource.Type][]types.Resource, error) {
	if err := x.Validate(); err != nil {
		return nil, fmt.Errorf("invalid IR: %w", err)
	}
	out, err := translateValid(x)
	if err != nil {
		return nil, err
	}
	for _, typ := range Types {
		for _, r := range out[typ] {
			if err := encodable(typ, r); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// encodable reports a resource that cannot be marshalled. ValidateAll does
// not look at encodings; a string that is not UTF-8 would only fail when
// the cache marshals it for the wire.
func encodable(typ resource.Type, r types.Resource) error {
	if _, err := proto.Marshal(r); err != nil {
		return fmt.Errorf("%s %q cannot be encoded: %w", typeName(typ), resourceName(r), err)
	}
	return nil
}

// translateValid is Translate of an IR that passed Validate, without the
// encoding check: Server.Update has validated the IR already, and its
// content hash (contentVersion) marshals every resource anyway, so at
// 5000 routes neither the IR nor the route configuration is walked twice.
func translateValid(x *ir.IR) (map[resource.Type][]types.Resource, error) {
	out, _, err := translateReusing(x, nil)
	return out, err
}

// translateReusing is translateValid taking the unchanged virtual hosts
// from prev (the node's previous publication; nil: none); it returns the
// virtual hosts of this translation, with the wire forms of the reused
// ones, for contentVersion and the next translation.
func translateReusing(x *ir.IR, prev vhostReuse) (map[resource.Type][]types.Resource, vhostReuse, error) {
	t := &translator{
		irClusters: map[string]*ir.Cluster{},
		prevVHosts: prev,
		nextVHosts: vhostReuse{},
	}
	for _, c := range x.Clusters {
		t.irClusters[c.Name] = c
	}
	out := map[resource.Type][]types.Resource{}
	for _, typ := range Types {
		out[typ] = []types.Resource{}
	}

	referenced := map[string]bool{}
	for _, l := range x.Listeners {
		out[resource.ListenerType] = append(out[resource.ListenerType], t.listener(l))
		for _, rt := range routeTablesOf(l) {
			referenced[rt] = true
		}
	}
	for _, rt := range x.RouteTables {
		if referenced[rt.Name] {
			out[resource.RouteType] = append(out[resource.RouteType], t.routeConfiguration(rt))
		}
	}
	for _, c := range x.Clusters {
		out[resource.ClusterType] = append(out[resource.ClusterType], t.cluster(c))
		if c.Discovery == ir.DiscoveryEDS {
			out[resource.EndpointType] = append(out[resource.EndpointType], loadAssignment(c))
		}
	}
	for _, c := range t.extraClusters {
		out[resource.ClusterType] = append(out[resource.ClusterType], c)
	}
	for _, cla := range t.extraEndpoints {
		out[resource.EndpointType] = append(out[resource.EndpointType], cla)
	}
	for _, s := range x.Secrets {
		if s.TrustedCA != "" {
			out[resource.SecretType] = append(out[resource.SecretType], caSecret(s))
			continue
		}
		out[resource.SecretType] = append(out[resource.SecretType], secret(s))
	}
	if t.err != nil {
		return nil, nil, t.err
	}

	for _, typ := range Types {
		rs := out[typ]
		slices.SortFunc(rs, func(a, b types.Resource) int {
			return cmp.Compare(resourceName(a), resourceName(b))
		})
		for _, r := range rs {
			var err error
			if rc, ok := r.(*routev3.RouteConfiguration); ok {
				err = t.validateRouteConfiguration(rc)
			} else {
				err = validateAll(r)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s %q fails Envoy validation: %w", typeName(typ), resourceName(r), err)
			}
		}
	}
	return out, t.nextVHosts, nil
}

// routeTablesOf lists the route tables a listener references.
func routeTablesOf(l *ir.Listener) []string {
	var names []string
	if l.HTTP != nil {
		names = append(names, l.HTTP.RouteTable)
	}
	for _, c := range l.TLS {
		if c.Terminate != nil && c.Terminate.HTTP != nil {
			names = append(names, c.Terminate.HTTP.RouteTable)
		}
	}
	return names
}

// translator carries the first error of a translation so the builders can
// stay expression-shaped; packing a message into an Any is the only step
// that can fail (invalid UTF-8 in a string field).
type translator struct {
	err error
	// irClusters indexes the IR's clusters; extraClusters and
	// extraEndpoints are synthesised by listeners (weighted UDP splits).
	irClusters     map[string]*ir.Cluster
	extraClusters  []types.Resource
	extraEndpoints []types.Resource
	// prevVHosts are the node's published virtual hosts (vhost_reuse.go),
	// nextVHosts this translation's.
	prevVHosts vhostReuse
	nextVHosts vhostReuse
}

// any packs m, recording the first failure.
func (t *translator) any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil && t.err == nil {
		t.err = fmt.Errorf("packing %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a
}

// validateAll runs the generated protoc-gen-validate checks.
func validateAll(r types.Resource) error {
	v, ok := r.(interface{ ValidateAll() error })
	if !ok {
		return fmt.Errorf("%T has no ValidateAll method", r)
	}
	return v.ValidateAll()
}

// resourceName is the name go-control-plane indexes r by.
func resourceName(r types.Resource) string {
	return cache.GetResourceName(r)
}

// typeName is the short name used in error messages and golden files.
func typeName(typ resource.Type) string {
	switch typ {
	case resource.ClusterType:
		return "clusters"
	case resource.EndpointType:
		return "endpoints"
	case resource.ListenerType:
		return "listeners"
	case resource.RouteType:
		return "routes"
	case resource.SecretType:
		return "secrets"
	}
	return typ
}
