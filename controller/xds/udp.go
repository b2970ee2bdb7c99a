package xds

import (
	"time"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherxds "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

const (
	// udpProxyName is the udp_proxy listener filter.
	udpProxyName = "envoy.filters.udp_listener.udp_proxy"
	// udpRouteActionName names the matcher action that picks the cluster.
	udpRouteActionName = "route"
	// udpIdleTimeout ends a UDP session (client address and port) without
	// datagrams in either direction; Envoy's default, written out so that
	// Envoy and the data plane agree.
	udpIdleTimeout = 60 * time.Second
	// udpClusterPrefix names the cluster that carries a weighted UDP split.
	udpClusterPrefix = "udp/"
)

// udpListener turns out into a UDP listener with the udp_proxy filter and
// no filter chains. udp_proxy routes each session to one cluster (the
// matcher's on_no_match action); it has no weighted clusters, so two or
// more backends become one cluster "udp/<listener>" with one locality per
// backend, weighted by load_balancing_weight under
// locality_weighted_lb_config: a new session picks a backend by weight,
// then an endpoint in it.
func (t *translator) udpListener(out *listenerv3.Listener, l *ir.Listener) {
	out.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
	var live []ir.WeightedCluster
	for _, b := range l.UDP.Backends {
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	cluster := ""
	if len(live) == 1 {
		cluster = live[0].Cluster
	} else {
		cluster = udpClusterPrefix + l.Name
		t.udpCluster(cluster, live)
	}
	cfg := &udpproxyv3.UdpProxyConfig{
		StatPrefix:  l.Name,
		IdleTimeout: durationpb.New(udpIdleTimeout),
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherxds.Matcher{
			OnNoMatch: &matcherxds.Matcher_OnMatch{OnMatch: &matcherxds.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: udpRouteActionName, TypedConfig: t.any(&udpproxyv3.Route{Cluster: cluster})},
			}},
		}},
	}
	out.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       udpProxyName,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: t.any(cfg)},
	}}
}

// udpCluster synthesises the weighted cluster of a UDP split from the
// backends' IR clusters: EDS when every backend is EDS (its assignment
// published over EDS like any other), else STRICT_DNS with the endpoints
// inline (IP literals resolve to themselves).
func (t *translator) udpCluster(name string, backends []ir.WeightedCluster) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	dns := false
	for _, b := range backends {
		c := t.irClusters[b.Cluster]
		if c == nil {
			continue
		}
		dns = dns || c.Discovery == ir.DiscoveryDNS
		group := &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{SubZone: b.Cluster},
			LoadBalancingWeight: wrapperspb.UInt32(b.Weight),
		}
		if sub := loadAssignment(c); len(sub.Endpoints) > 0 {
			group.LbEndpoints = sub.Endpoints[0].LbEndpoints
		}
		cla.Endpoints = append(cla.Endpoints, group)
	}
	out := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(defaultConnectTimeout),
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		}},
	}
	if dns {
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		out.LoadAssignment = cla
		out.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		out.DnsRefreshRate = durationpb.New(dnsRefreshRate)
	} else {
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		out.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()}
		t.extraEndpoints = append(t.extraEndpoints, cla)
	}
	t.extraClusters = append(t.extraClusters, out)
}
