package serviceproxy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// servesLoadBalancer reports whether the proxy is the Service's load
// balancer: type LoadBalancer without spec.loadBalancerClass (a class names
// another implementation, as with cloud providers' controllers).
func servesLoadBalancer(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// ensureLoadBalancerIP gives the Service its address. A Service that asks
// for addresses (requested.go) gets one of those or none; any other gets an
// address of the pod block once and keeps it while it stays a
// LoadBalancer.
func (p *Proxy) ensureLoadBalancerIP(svc *corev1.Service, st *serviceState, w *warnings) error {
	if req := requestedLoadBalancerIPs(svc, w); req.asked() {
		return p.ensureRequestedIP(svc, st, req, w)
	}
	if st.lbIP.IsValid() {
		return nil
	}
	ip, err := p.takeLoadBalancerIP(svc)
	if err != nil {
		w.add("LoadBalancerAddressFailed", "no load balancer address: %v", err)
		return err
	}
	p.assignLoadBalancerIP(svc, st, ip, "")
	return nil
}

// assignLoadBalancerIP records ip, already a host address, as the
// Service's load balancer address.
func (p *Proxy) assignLoadBalancerIP(svc *corev1.Service, st *serviceState, ip netip.Addr, source string) {
	st.lbIP = ip
	how := ""
	if source != "" {
		how = ", as " + source + " asks"
	}
	p.recorder.Eventf(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Load balancer address %s%s, reachable from the host and the pods", ip, how)
}

// publishLoadBalancer writes the Service's address into its status. sync
// calls it once the listeners are up, so that whoever reads the address
// (the Gateway's status) can connect at once.
func (p *Proxy) publishLoadBalancer(svc *corev1.Service, st *serviceState) error {
	vip := corev1.LoadBalancerIPModeVIP
	return p.writeIngress(svc, []corev1.LoadBalancerIngress{{IP: st.lbIP.String(), IPMode: &vip}})
}

// takeLoadBalancerIP reuses the address the Service's status already names
// (a restarted proxy: the address stays the same) when it lies in the pod
// block and no other Service holds it; otherwise it allocates a new one.
func (p *Proxy) takeLoadBalancerIP(svc *corev1.Service) (netip.Addr, error) {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil || !p.podCIDR.Contains(ip) || p.loadBalancerIPHolder(ip) != "" {
			continue
		}
		if err := p.net.AddHostAddress(ip); err != nil {
			// A pod has the address by now, say: take a new one.
			p.log.Warn("cannot take back the load balancer address in status; allocating another", "service", svc.Namespace+"/"+svc.Name, "address", ip, "err", err)
			continue
		}
		return ip, nil
	}
	ip, err := p.net.AllocateHostAddress()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("allocate a host address: %w", err)
	}
	return ip, nil
}

// loadBalancerIPHolder is the Service that holds ip as its load balancer
// address, or "".
func (p *Proxy) loadBalancerIPHolder(ip netip.Addr) string {
	for key, st := range p.state {
		if st.lbIP == ip {
			return key
		}
	}
	return ""
}

// dropLoadBalancerIP closes the listeners on the Service's load balancer
// address and gives the address back; a Service waiting for that address
// is synced again.
func (p *Proxy) dropLoadBalancerIP(st *serviceState) error {
	ip := st.lbIP
	if !ip.IsValid() {
		return nil
	}
	st.closeListenersOn(ip)
	if err := p.net.RemoveHostAddress(ip); err != nil {
		return err
	}
	p.log.Info("load balancer address released", "service", st.key, "address", ip)
	st.lbIP = netip.Addr{}
	p.requeueRequesters(ip, st.key)
	return nil
}

// releaseLoadBalancer gives the address of a Service that is no longer a
// LoadBalancer back and clears its status; also a status this proxy wrote
// before it restarted (an address of the pod block).
func (p *Proxy) releaseLoadBalancer(svc *corev1.Service, st *serviceState) error {
	clearStatus := st.lbIP.IsValid()
	if err := p.dropLoadBalancerIP(st); err != nil {
		return err
	}
	if svc.Spec.LoadBalancerClass == nil {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(in.IP); err == nil && p.podCIDR.Contains(ip) {
				clearStatus = true
			}
		}
	}
	if !clearStatus {
		return nil
	}
	return p.writeIngress(svc, nil)
}

// writeIngress sets status.loadBalancer.ingress through the status
// subresource unless it already is want. A conflict is returned: the key is
// retried with the newer object the informer brings.
func (p *Proxy) writeIngress(svc *corev1.Service, want []corev1.LoadBalancerIngress) error {
	if equality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	c := svc.DeepCopy()
	c.Status.LoadBalancer.Ingress = want
	if _, err := p.client.CoreV1().Services(c.Namespace).UpdateStatus(p.ctx, c, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write status.loadBalancer of %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}
