package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
)

// Envoy's defaults for fields the controller may leave unset.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultDNSRefreshRate = 5 * time.Second
)

func compileCluster(name string, pc *clusterv3.Cluster) (*Cluster, error) {
	rep := reporter{kind: "cluster", name: name}
	if pc == nil {
		return nil, rep.errf("", "resource is empty")
	}
	if err := checkFields(rep, pc); err != nil {
		return nil, err
	}
	if pc.GetName() != name {
		return nil, rep.errf("name", "resource name %q differs from its key", pc.GetName())
	}
	c := &Cluster{Name: name, ConnectTimeout: defaultConnectTimeout, DNSRefreshRate: defaultDNSRefreshRate}
	var err error
	if c.RetryBudget, err = compileRetryBudget(rep, pc.GetCircuitBreakers()); err != nil {
		return nil, err
	}
	if d := pc.GetConnectTimeout(); d != nil {
		if d.CheckValid() != nil || d.AsDuration() <= 0 {
			return nil, rep.errf("connect_timeout", "must be a positive duration")
		}
		c.ConnectTimeout = d.AsDuration()
	}
	if err := compileClusterTLSAndLB(rep, c, pc); err != nil {
		return nil, err
	}
	switch pc.GetType() {
	case clusterv3.Cluster_EDS:
		c.Type = ClusterEDS
		if err := checkADS(rep, "eds_cluster_config.eds_config", pc.GetEdsClusterConfig().GetEdsConfig()); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{pc.GetLoadAssignment() != nil, "load_assignment"}, {pc.GetDnsRefreshRate() != nil, "dns_refresh_rate"}, {pc.GetDnsLookupFamily() != 0, "dns_lookup_family"}} {
			if f.set {
				return nil, rep.errf(f.name, "only valid for STRICT_DNS clusters")
			}
		}
	case clusterv3.Cluster_STRICT_DNS:
		c.Type = ClusterStrictDNS
		if pc.GetEdsClusterConfig() != nil {
			return nil, rep.errf("eds_cluster_config", "only valid for EDS clusters")
		}
		if d := pc.GetDnsRefreshRate(); d != nil {
			if d.CheckValid() != nil || d.AsDuration() < time.Millisecond {
				return nil, rep.errf("dns_refresh_rate", "must be at least 1ms")
			}
			c.DNSRefreshRate = d.AsDuration()
		}
		switch pc.GetDnsLookupFamily() {
		case clusterv3.Cluster_AUTO:
			c.DNSFamily = DNSAuto
		case clusterv3.Cluster_V4_ONLY:
			c.DNSFamily = DNSV4Only
		case clusterv3.Cluster_V6_ONLY:
			c.DNSFamily = DNSV6Only
		case clusterv3.Cluster_V4_PREFERRED:
			c.DNSFamily = DNSV4Preferred
		case clusterv3.Cluster_ALL:
			c.DNSFamily = DNSAll
		default:
			return nil, rep.errf("dns_lookup_family", "unsupported value %v", pc.GetDnsLookupFamily())
		}
		la := pc.GetLoadAssignment()
		if la == nil {
			return nil, rep.errf("load_assignment", "required for STRICT_DNS clusters")
		}
		eps, err := compileEndpoints(rep, "load_assignment.", la.GetEndpoints(), false)
		if err != nil {
			return nil, err
		}
		c.Endpoints = eps
	default:
		return nil, rep.errf("type", "unsupported cluster type %v (EDS or STRICT_DNS)", pc.GetType())
	}
	p, err := compileUpstreamProtocol(rep, pc)
	if err != nil {
		return nil, err
	}
	c.Protocol = p
	return c, nil
}

// compileLoadAssignment returns the endpoints of an EDS
// ClusterLoadAssignment; they must be IP addresses.
func compileLoadAssignment(name string, cla *endpointv3.ClusterLoadAssignment) ([]Endpoint, error) {
	rep := reporter{kind: "cluster load assignment", name: name}
	if cla == nil {
		return nil, rep.errf("", "resource is empty")
	}
	if err := checkFields(rep, cla); err != nil {
		return nil, err
	}
	if cla.GetClusterName() != name {
		return nil, rep.errf("cluster_name", "%q differs from its key", cla.GetClusterName())
	}
	return compileEndpoints(rep, "", cla.GetEndpoints(), true)
}

func compileEndpoints(rep reporter, prefix string, loc []*endpointv3.LocalityLbEndpoints, requireIP bool) ([]Endpoint, error) {
	var out []Endpoint
	for i, l := range loc {
		for j, lb := range l.GetLbEndpoints() {
			eloc := fmt.Sprintf("%sendpoints[%d].lb_endpoints[%d]", prefix, i, j)
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, rep.errf(eloc+".endpoint.address", "socket_address is required")
			}
			host := sa.GetAddress()
			if requireIP && net.ParseIP(host) == nil {
				return nil, rep.errf(eloc+".endpoint.address.socket_address.address", "%q is not an IP address", host)
			}
			if !requireIP && !validDNSName(host) && net.ParseIP(host) == nil {
				return nil, rep.errf(eloc+".endpoint.address.socket_address.address", "%q is not a host name", host)
			}
			if sa.GetPortValue() == 0 || sa.GetPortValue() > 65535 {
				return nil, rep.errf(eloc+".endpoint.address.socket_address.port_value", "port %d out of range 1-65535", sa.GetPortValue())
			}
			w := uint32(1)
			if lw := lb.GetLoadBalancingWeight(); lw != nil {
				if lw.GetValue() == 0 {
					return nil, rep.errf(eloc+".load_balancing_weight", "must be at least 1")
				}
				w = lw.GetValue()
			}
			out = append(out, Endpoint{Host: host, Port: sa.GetPortValue(), Weight: w, LocalityWeight: l.GetLoadBalancingWeight().GetValue(), locality: i})
		}
	}
	return out, nil
}

// validDNSName: a name of up to 253 characters, one trailing dot (a fully
// qualified name) not counted, as in DNS.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c == '.' || c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
