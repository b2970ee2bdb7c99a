// Package config turns the xDS resources the data plane accepted into
// validated, immutable runtime tables (see docs/xds-contract.md).
package config

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
)

// Resources is the complete set of xDS resources the data plane holds at one
// moment, keyed by resource name. The xDS client owns and replaces these maps;
// consumers must treat them as read-only.
type Resources struct {
	Listeners map[string]*listenerv3.Listener
	Routes    map[string]*routev3.RouteConfiguration
	Clusters  map[string]*clusterv3.Cluster
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	Secrets   map[string]*tlsv3.Secret

	// RouteWire optionally gives, for route configurations of Routes that
	// were decoded by a RouteDecoder, the wire form of each of their virtual
	// hosts, index for index. A Compiler then finds the virtual hosts it
	// compiled before by those bytes instead of marshalling every virtual
	// host again. A message that is not in it is marshalled; an entry whose
	// message is not in Routes is ignored.
	RouteWire map[*routev3.RouteConfiguration][]string
}

// Add files m in its kind's map under its name (a load assignment under
// its cluster's), making the map if needed. It is for tools and tests that
// hold resources as a list, as the controller's translation makes them;
// the xDS client fills the maps itself.
func (r *Resources) Add(m proto.Message) error {
	switch v := m.(type) {
	case *listenerv3.Listener:
		r.Listeners = put(r.Listeners, v.GetName(), v)
	case *routev3.RouteConfiguration:
		r.Routes = put(r.Routes, v.GetName(), v)
	case *clusterv3.Cluster:
		r.Clusters = put(r.Clusters, v.GetName(), v)
	case *endpointv3.ClusterLoadAssignment:
		r.Endpoints = put(r.Endpoints, v.GetClusterName(), v)
	case *tlsv3.Secret:
		r.Secrets = put(r.Secrets, v.GetName(), v)
	default:
		return fmt.Errorf("config: %T is not a resource the data plane takes", m)
	}
	return nil
}

func put[V any](m map[string]V, name string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[name] = v
	return m
}

// Handler receives configuration from the xDS client.
type Handler interface {
	// Apply is called with the complete candidate state after a response of
	// typeURL was decoded. A non-nil error NACKs that response: the error text
	// becomes error_detail, and the client keeps its previous resources of that
	// type. A candidate whose references are not all present yet is not an
	// error: the handler keeps serving its current config and returns nil (see
	// "Transport" in docs/xds-contract.md).
	Apply(typeURL string, candidate *Resources) error
}
