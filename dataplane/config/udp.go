package config

import (
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
)

const (
	nameUDPProxy = "envoy.filters.udp_listener.udp_proxy"
	// defaultUDPIdleTimeout is udp_proxy's idle_timeout default (Envoy's).
	defaultUDPIdleTimeout = 60 * time.Second
)

// compileUDPListener compiles a UDP listener: no filter chains, exactly one
// listener filter, udp_proxy, whose matcher has only on_no_match with a
// Route action naming the cluster.
func compileUDPListener(rep reporter, l *compiledListener, pl *listenerv3.Listener) (*compiledListener, error) {
	if len(pl.GetFilterChains()) > 0 {
		return nil, rep.errf("filter_chains", "a UDP listener has no filter chains")
	}
	lf := pl.GetListenerFilters()
	if len(lf) != 1 || lf[0].GetName() != nameUDPProxy || lf[0].GetTypedConfig() == nil {
		return nil, rep.errf("listener_filters", "a UDP listener needs exactly one listener filter, %q with a UdpProxyConfig typed_config", nameUDPProxy)
	}
	const loc = "listener_filters[0].typed_config"
	var cfg udpproxyv3.UdpProxyConfig
	if err := lf[0].GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		return nil, rep.errf(loc, "%v", err)
	}
	if cfg.GetStatPrefix() == "" {
		return nil, rep.errf(loc+".stat_prefix", "stat_prefix is required")
	}
	action := cfg.GetMatcher().GetOnNoMatch().GetAction()
	if action == nil || action.GetTypedConfig() == nil {
		return nil, rep.errf(loc+".matcher.on_no_match.action", "a Route action is required")
	}
	var route udpproxyv3.Route
	if err := action.GetTypedConfig().UnmarshalTo(&route); err != nil || route.GetCluster() == "" {
		return nil, rep.errf(loc+".matcher.on_no_match.action.typed_config", "a Route with a cluster is required")
	}
	idle, err := duration(rep, loc+".idle_timeout", cfg.GetIdleTimeout())
	if err != nil {
		return nil, err
	}
	if idle == 0 {
		idle = defaultUDPIdleTimeout
	}
	l.UDP = &UDPProxy{StatPrefix: cfg.GetStatPrefix(), ClusterName: route.GetCluster(), IdleTimeout: idle}
	return l, nil
}

// linkUDP resolves a UDP listener's cluster.
func linkUDP(rep reporter, l *Listener, clusters map[string]*Cluster) error {
	if l.UDP == nil {
		return nil
	}
	c, ok := clusters[l.UDP.ClusterName]
	if !ok {
		return rep.missing("listener_filters[0].typed_config.matcher", "cluster %q not present", l.UDP.ClusterName)
	}
	l.UDP.Cluster = c
	return nil
}

// localityWeights applies locality_weighted_lb_config: each locality gets
// its load_balancing_weight's share of new connections or sessions, split
// among its endpoints by their weights. The shares become per-endpoint
// weights (scaled to integers) for the ordinary weighted round-robin.
// Localities without endpoints get nothing, as in Envoy.
func localityWeights(eps []Endpoint) []Endpoint {
	sums := map[int]uint64{}
	for _, e := range eps {
		sums[e.locality] += uint64(e.Weight)
	}
	out := make([]Endpoint, 0, len(eps))
	for _, e := range eps {
		if e.LocalityWeight == 0 {
			continue // a locality of weight 0 receives nothing
		}
		w := uint64(e.LocalityWeight) * uint64(e.Weight) * 1000 / max(sums[e.locality], 1)
		e.Weight = uint32(max(min(w, 1<<31), 1))
		out = append(out, e)
	}
	return out
}
