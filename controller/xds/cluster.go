package xds

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

const (
	// defaultConnectTimeout applies when the IR leaves it at 0.
	defaultConnectTimeout = 5 * time.Second
	// dnsRefreshRate is how often STRICT_DNS clusters re-resolve; explicit
	// so that Envoy and the data plane agree.
	dnsRefreshRate = 5 * time.Second
)

// cluster builds the CDS resource. EDS clusters only name their endpoint set
// (the ClusterLoadAssignment of the same name), so an endpoint change is an
// EDS push that leaves the cluster and its connection pools alone.
func (t *translator) cluster(c *ir.Cluster) *clusterv3.Cluster {
	timeout := defaultConnectTimeout
	if c.ConnectTimeoutMillis > 0 {
		timeout = time.Duration(c.ConnectTimeoutMillis) * time.Millisecond
	}
	out := &clusterv3.Cluster{
		Name:           c.Name,
		ConnectTimeout: durationpb.New(timeout),
		LbPolicy:       clusterv3.Cluster_ROUND_ROBIN,
	}
	out.CircuitBreakers = retryBudget()
	switch c.Discovery {
	case ir.DiscoveryDNS:
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		out.LoadAssignment = loadAssignment(c)
		out.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		out.DnsRefreshRate = durationpb.New(dnsRefreshRate)
	default:
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		out.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()}
	}
	t.upstreamProtocol(out, c.Protocol)
	if c.TLS != nil {
		out.TransportSocket = t.upstreamTLS(c.TLS)
	}
	return out
}

// loadAssignment lists the cluster's endpoints in one locality-less group.
// No endpoints means no group at all: a valid, empty assignment (503s).
func loadAssignment(c *ir.Cluster) *endpointv3.ClusterLoadAssignment {
	out := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	if len(c.Endpoints) == 0 {
		return out
	}
	group := &endpointv3.LocalityLbEndpoints{}
	for _, e := range c.Endpoints {
		weight := e.Weight
		if weight == 0 {
			weight = 1
		}
		group.LbEndpoints = append(group.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address:       e.Address,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.Port},
				}}},
			}},
			LoadBalancingWeight: wrapperspb.UInt32(weight),
		})
	}
	out.Endpoints = []*endpointv3.LocalityLbEndpoints{group}
	return out
}
