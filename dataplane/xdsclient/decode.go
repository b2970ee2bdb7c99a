package xdsclient

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// subscriptions is the subscription order of the contract: CDS, EDS, LDS,
// RDS, SDS (clusters before the listeners that use them, as Envoy does).
var subscriptions = []string{
	config.TypeCluster,
	config.TypeEndpoint,
	config.TypeListener,
	config.TypeRoute,
	config.TypeSecret,
}

// candidate decodes a response and returns cur with the response's type
// replaced by its resources. cur's other maps are shared, not copied: the
// Resources contract makes them read-only. Route configurations are decoded
// by routes, which reuses the unchanged virtual hosts' messages.
func candidate(cur config.Resources, resp *discoveryv3.DiscoveryResponse, routes *config.RouteDecoder) (*config.Resources, error) {
	next := cur
	var err error
	switch rs := resp.GetResources(); resp.GetTypeUrl() {
	case config.TypeCluster:
		next.Clusters, err = decodeAll(resp.GetTypeUrl(), rs, unmarshal[*clusterv3.Cluster], (*clusterv3.Cluster).GetName)
	case config.TypeEndpoint:
		next.Endpoints, err = decodeAll(resp.GetTypeUrl(), rs, unmarshal[*endpointv3.ClusterLoadAssignment], (*endpointv3.ClusterLoadAssignment).GetClusterName)
	case config.TypeListener:
		next.Listeners, err = decodeAll(resp.GetTypeUrl(), rs, unmarshal[*listenerv3.Listener], (*listenerv3.Listener).GetName)
	case config.TypeRoute:
		next.Routes, next.RouteWire, err = decodeRoutes(rs, routes)
	case config.TypeSecret:
		next.Secrets, err = decodeAll(resp.GetTypeUrl(), rs, unmarshal[*tlsv3.Secret], (*tlsv3.Secret).GetName)
	default:
		return nil, fmt.Errorf("response type %q: not a type this data plane subscribes to", resp.GetTypeUrl())
	}
	if err != nil {
		return nil, err
	}
	return &next, nil
}

// decodeAll unpacks every resource of a response, which must all be of the
// response's type, and indexes them by name; an unnamed or repeated name is
// an error because later lookups by name would be ambiguous.
func decodeAll[T proto.Message](typeURL string, anys []*anypb.Any, decode func([]byte) (T, error), name func(T) string) (map[string]T, error) {
	out := make(map[string]T, len(anys))
	for i, a := range anys {
		if a.GetTypeUrl() != typeURL {
			return nil, fmt.Errorf("resources[%d]: type %q in a response of type %q", i, a.GetTypeUrl(), typeURL)
		}
		m, err := decode(a.GetValue())
		if err != nil {
			return nil, fmt.Errorf("resources[%d] (%s): cannot decode: %w", i, typeURL, err)
		}
		n := name(m)
		if n == "" {
			return nil, fmt.Errorf("resources[%d] (%s): empty name", i, typeURL)
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("resources[%d] (%s): name %q appears twice", i, typeURL, n)
		}
		out[n] = m
	}
	return out, nil
}

// unmarshal decodes one resource of type *M.
func unmarshal[T interface {
	*M
	proto.Message
}, M any](b []byte) (T, error) {
	m := T(new(M))
	return m, proto.Unmarshal(b, m)
}

// decodeRoutes is decodeAll for route configurations, through routes, and
// also returns their virtual hosts' wire forms (config.Resources.RouteWire).
func decodeRoutes(anys []*anypb.Any, routes *config.RouteDecoder) (map[string]*routev3.RouteConfiguration, map[*routev3.RouteConfiguration][]string, error) {
	defer routes.Done()
	wire := make(map[*routev3.RouteConfiguration][]string, len(anys))
	decode := func(b []byte) (*routev3.RouteConfiguration, error) {
		rc, w, err := routes.Decode(b)
		if w != nil {
			wire[rc] = w
		}
		return rc, err
	}
	out, err := decodeAll(config.TypeRoute, anys, decode, (*routev3.RouteConfiguration).GetName)
	if err != nil {
		return nil, nil, err
	}
	return out, wire, nil
}
