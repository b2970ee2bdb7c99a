package serviceproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// LoadBalancerIPsAnnotation asks the local load balancer for given
// addresses, comma-separated, the way metallb.io/loadBalancerIPs asks
// MetalLB: the Service gets the first of them that it can have, or none.
// edgeway's EdgewayConfig spec.service.addressAnnotation names it in the
// local cluster, so a Gateway's spec.addresses reach the load balancer.
// Without the annotation, spec.loadBalancerIP (deprecated by Kubernetes,
// still what many users set) is read the same way.
const LoadBalancerIPsAnnotation = "serviceproxy.edgeway.dev/load-balancer-ips"

// Warning reasons of requested addresses.
const (
	// reasonAddressNotUsable: a requested address is left out.
	reasonAddressNotUsable = "LoadBalancerIPNotUsable"
	// reasonNoRequestedAddress: none of the requested addresses could be
	// given, so the Service has no load balancer address.
	reasonNoRequestedAddress = "LoadBalancerIPNotAssigned"
)

// requestedIPs are the addresses a Service asks for and where it asks.
type requestedIPs struct {
	ips    []netip.Addr
	source string // "annotation ..." or "spec.loadBalancerIP"; "": no request
}

func (r requestedIPs) asked() bool { return r.source != "" }

// requestedLoadBalancerIPs reads the request of svc. An entry that is not
// an IP address is reported and left out: the Service still asked, so it
// gets no other address instead.
func requestedLoadBalancerIPs(svc *corev1.Service, w *warnings) requestedIPs {
	raw, ok := svc.Annotations[LoadBalancerIPsAnnotation]
	r := requestedIPs{source: "annotation " + LoadBalancerIPsAnnotation}
	if !ok {
		if svc.Spec.LoadBalancerIP == "" {
			return requestedIPs{}
		}
		raw, r.source = svc.Spec.LoadBalancerIP, "spec.loadBalancerIP"
	}
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			w.add(reasonAddressNotUsable, "%s: %q is not an IP address; it is left out", r.source, s)
			continue
		}
		if ip = ip.Unmap(); !slices.Contains(r.ips, ip) {
			r.ips = append(r.ips, ip)
		}
	}
	return r
}

// ensureRequestedIP gives the Service the first requested address it can
// have, and keeps the one it has while it stays requested. Every other
// requested address is reported with why it is left out. With none usable
// the Service has no load balancer address and no status: a load balancer
// does not hand out another address than the one asked for.
func (p *Proxy) ensureRequestedIP(svc *corev1.Service, st *serviceState, req requestedIPs, w *warnings) error {
	if st.lbIP.IsValid() && !slices.Contains(req.ips, st.lbIP) {
		if err := p.dropLoadBalancerIP(st); err != nil {
			return err
		}
	}
	var errs []error
	for _, ip := range req.ips {
		if ip == st.lbIP {
			continue
		}
		if why := p.unusableLoadBalancerIP(ip, st.key); why != "" {
			w.add(reasonAddressNotUsable, "%s asks for %s, which the local load balancer cannot give: %s", req.source, ip, why)
			continue
		}
		if st.lbIP.IsValid() {
			w.add(reasonAddressNotUsable, "%s asks for %s as well: the local load balancer gives a Service one address, and it has %s", req.source, ip, st.lbIP)
			continue
		}
		if err := p.net.AddHostAddress(ip); err != nil {
			w.add("LoadBalancerAddressFailed", "%s asks for %s, which cannot be made a host address: %v", req.source, ip, err)
			errs = append(errs, err)
			continue
		}
		p.assignLoadBalancerIP(svc, st, ip, req.source)
	}
	if st.lbIP.IsValid() {
		return errors.Join(errs...)
	}
	w.add(reasonNoRequestedAddress, "no load balancer address: none of the addresses %s asks for can be given (see the other warnings); the Service gets one once the request names a free address of the pod network %s", req.source, p.podCIDR)
	return errors.Join(append(errs, p.writeIngress(svc, nil))...)
}

// unusableLoadBalancerIP says why ip cannot be the load balancer address
// of Service key, or "" if it can: it must be a free address of the pod
// block, where podnet makes host addresses (never one it did not create).
// A pod that has it may leave later; the request is looked at again at the
// Service's next change.
func (p *Proxy) unusableLoadBalancerIP(ip netip.Addr, key string) string {
	switch {
	case !ip.Is4():
		return "the local cluster is IPv4 only"
	case !p.podCIDR.Contains(ip):
		return fmt.Sprintf("it is outside the pod network %s, the only addresses the local load balancer gives (podnet never takes over an address it did not create)", p.podCIDR)
	case ip == p.podCIDR.Masked().Addr() || ip == lastAddr(p.podCIDR):
		return fmt.Sprintf("it is the network or broadcast address of %s", p.podCIDR)
	case ip == p.gateway:
		return "it is the pod network's gateway, the Node's address"
	}
	if holder := p.loadBalancerIPHolder(ip); holder != "" && holder != key {
		return "the Service " + holder + " has it"
	}
	pods, err := p.net.Pods()
	if err != nil {
		return fmt.Sprintf("the pod network's pods cannot be read: %v", err)
	}
	for _, pod := range pods {
		if pod.IP == ip {
			return fmt.Sprintf("it is the IP of pod %s", pod.Name)
		}
	}
	return ""
}

// requeueRequesters syncs again the LoadBalancer Services other than
// except that ask for ip, now free.
func (p *Proxy) requeueRequesters(ip netip.Addr, except string) {
	svcs, err := p.services.List(everything)
	if err != nil {
		return
	}
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		if key == except || !servesLoadBalancer(svc) {
			continue
		}
		if slices.Contains(requestedLoadBalancerIPs(svc, &warnings{}).ips, ip) {
			p.queue.Add(key)
		}
	}
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
