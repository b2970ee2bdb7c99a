package infra

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// port is one socket the data plane listens on.
type port struct {
	number   int32
	protocol corev1.Protocol
}

// name is unique per Service and fits the 15 characters of a port name.
func (p port) name() string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(p.protocol)), p.number)
}

// listenerPorts are the distinct (port, protocol) pairs of the listeners of
// gw and of its ListenerSets, sorted: UDP listeners are UDP sockets, every
// other protocol edgeway serves is TCP. Listeners of other protocols, and
// TCP listeners on a ReservedPort, are left out (translation gives them a
// condition): the Service must not send a port's traffic to the admin
// server.
func listenerPorts(gw *gwv1.Gateway, sets []gwv1.ListenerSet) []port {
	type listener struct {
		port     gwv1.PortNumber
		protocol gwv1.ProtocolType
	}
	var all []listener
	for _, l := range gw.Spec.Listeners {
		all = append(all, listener{l.Port, l.Protocol})
	}
	for _, s := range sets {
		for _, l := range s.Spec.Listeners {
			all = append(all, listener{l.Port, l.Protocol})
		}
	}
	var ports []port
	for _, l := range all {
		var proto corev1.Protocol
		switch l.protocol {
		case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType, gwv1.TLSProtocolType, gwv1.TCPProtocolType:
			proto = corev1.ProtocolTCP
		case gwv1.UDPProtocolType:
			proto = corev1.ProtocolUDP
		default:
			continue
		}
		p := port{number: int32(l.port), protocol: proto}
		if proto == corev1.ProtocolTCP && slices.ContainsFunc(ReservedPorts(), func(r snapshot.ReservedPort) bool { return r.Port == uint32(l.port) }) {
			continue
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b port) int {
		return cmp.Or(cmp.Compare(a.number, b.number), cmp.Compare(a.protocol, b.protocol))
	})
	return ports
}

// requestedIPs are the IPs of spec.addresses, in order. Other address
// types are refused by translation (UnsupportedAddress).
func requestedIPs(gw *gwv1.Gateway) []string {
	var ips []string
	for _, a := range gw.Spec.Addresses {
		if a.Type != nil && *a.Type != gwv1.IPAddressType {
			continue
		}
		if ip := net.ParseIP(a.Value); ip != nil && !slices.Contains(ips, ip.String()) {
			ips = append(ips, ip.String())
		}
	}
	return ips
}

// renderService is the Service in front of the data plane. spec.addresses
// is honoured where the Service type allows it:
//   - ClusterIP and NodePort: the first IP of each family becomes the
//     Service's cluster IP(s) (it must lie in the cluster's Service CIDR;
//     the API server refuses it otherwise and the apply error is reported);
//   - LoadBalancer: Kubernetes has no portable field (spec.loadBalancerIP
//     is deprecated), so the IPs go, comma-separated, into the annotation
//     the EdgewayConfig names in spec.service.addressAnnotation; without
//     one the Gateway is not Programmed (AddressNotUsable).
func renderService(gw *gwv1.Gateway, ports []port, cfg config) (*corev1ac.ServiceApplyConfiguration, *Problem) {
	if len(ports) == 0 {
		return nil, problemf(gwv1.GatewayReasonInvalid,
			"no listener has a protocol edgeway serves (HTTP, HTTPS, TLS, TCP, UDP): the Service %s is not created", ResourceName(gw.Name))
	}
	annotations := objectAnnotations(gw)
	maps.Copy(annotations, cfg.annotations)
	spec := corev1ac.ServiceSpec().WithType(cfg.serviceType).WithSelector(selectorLabels(gw.Name))
	for _, p := range ports {
		spec.WithPorts(corev1ac.ServicePort().WithName(p.name()).WithProtocol(p.protocol).
			WithPort(p.number).WithTargetPort(intstr.FromInt32(p.number)))
	}
	if cfg.trafficPolicy != "" && cfg.serviceType != corev1.ServiceTypeClusterIP {
		spec.WithExternalTrafficPolicy(cfg.trafficPolicy)
	}
	var problem *Problem
	if ips := requestedIPs(gw); len(ips) > 0 {
		switch cfg.serviceType {
		case corev1.ServiceTypeLoadBalancer:
			if cfg.addrAnnotation == "" {
				problem = problemf(gwv1.GatewayReasonAddressNotUsable,
					"spec.addresses: cannot ask the load balancer for %s: Kubernetes has no portable Service field for it "+
						"(spec.loadBalancerIP is deprecated); set spec.service.addressAnnotation in the EdgewayConfig "+
						"to the annotation your load balancer reads (e.g. metallb.io/loadBalancerIPs)", strings.Join(ips, ", "))
			} else {
				annotations[cfg.addrAnnotation] = strings.Join(ips, ",")
			}
		default:
			clusterIPs, extra := onePerFamily(ips)
			spec.WithClusterIP(clusterIPs[0]).WithClusterIPs(clusterIPs...)
			if len(clusterIPs) == 2 {
				spec.WithIPFamilyPolicy(corev1.IPFamilyPolicyRequireDualStack)
			}
			if len(extra) > 0 {
				problem = problemf(gwv1.GatewayReasonAddressNotUsable,
					"spec.addresses: a %s Service has one cluster IP per IP family; %s cannot be used as well",
					cfg.serviceType, strings.Join(extra, ", "))
			}
		}
	}
	svc := corev1ac.Service(ResourceName(gw.Name), gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(annotations).
		WithOwnerReferences(ownerRef(gw)).WithSpec(spec)
	return svc, problem
}

// onePerFamily keeps the first IPv4 and the first IPv6 address, in the
// order given; the others are extra.
func onePerFamily(ips []string) (kept, extra []string) {
	var v4, v6 bool
	for _, s := range ips {
		is4 := net.ParseIP(s).To4() != nil
		switch {
		case is4 && !v4:
			v4 = true
			kept = append(kept, s)
		case !is4 && !v6:
			v6 = true
			kept = append(kept, s)
		default:
			extra = append(extra, s)
		}
	}
	return kept, extra
}
