package serviceproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

var everything = labels.Everything()

// serviceState is what the proxy has set up for one Service.
type serviceState struct {
	key       string
	clusterIP netip.Addr // a host address the proxy added; invalid: none
	lbIP      netip.Addr // the LoadBalancer address, a host address; invalid: none
	balancers map[portKey]*balancer
	listeners map[listenerKey]listenerEntry
	warnings  map[warning]bool // those already reported
	summary   string           // addresses and ports last logged
}

// portKey names a Service port: the name endpoints are matched by, and its
// protocol.
type portKey struct {
	name  string
	proto corev1.Protocol
}

// listenerKey is one socket: a Service port on one of the Service's
// addresses.
type listenerKey struct {
	addr  netip.AddrPort
	proto corev1.Protocol
}

func (k listenerKey) String() string { return k.addr.String() + "/" + string(k.proto) }

type listener interface{ close() }

type listenerEntry struct {
	l   listener
	bal *balancer
}

// defaultAffinityTimeout is Kubernetes' default for
// sessionAffinityConfig.clientIP.timeoutSeconds.
const defaultAffinityTimeout = 10800 * time.Second

// sync makes the proxy serve Service key as it is now in the informer's
// cache, or stop serving it when it is gone. It returns an error when
// something is left to do, so the key is retried.
func (p *Proxy) sync(key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := p.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		st := p.state[key]
		if st == nil {
			return nil
		}
		lbIP := st.lbIP
		if err := st.teardown(p); err != nil {
			return err // kept: the addresses are removed at the retry
		}
		delete(p.state, key)
		p.log.Info("service removed", "service", key)
		if lbIP.IsValid() {
			p.requeueRequesters(lbIP, key)
		}
		return nil
	}
	if err != nil {
		return err
	}
	st := p.state[key]
	if st == nil {
		st = &serviceState{key: key, balancers: map[portKey]*balancer{}, listeners: map[listenerKey]listenerEntry{}}
		p.state[key] = st
	}
	w := &warnings{}
	var errs []error

	if err := st.setClusterIP(p, p.clusterIPOf(svc, w)); err != nil {
		w.add("ClusterIPNotServed", "ClusterIP not served: %v", err)
		errs = append(errs, err)
	}
	lb := servesLoadBalancer(svc)
	if lb {
		errs = append(errs, p.ensureLoadBalancerIP(svc, st, w))
	} else {
		errs = append(errs, p.releaseLoadBalancer(svc, st))
	}

	affinity := time.Duration(0)
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	slicesOf := p.slicesOf(key)
	balancers := map[portKey]*balancer{}
	wanted := map[listenerKey]*balancer{}
	var endpointCounts []string
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol != corev1.ProtocolTCP && sp.Protocol != corev1.ProtocolUDP {
			w.add("ProtocolNotServed", "port %s (%d/%s) is not served: the local cluster's service proxy serves TCP and UDP only", portName(sp), sp.Port, sp.Protocol)
			continue
		}
		eps, skipped := endpointsFor(sp, slicesOf, p.podCIDR.Contains)
		if len(skipped) > 0 {
			w.add("EndpointNotServed", "endpoints %s of port %s are not used: the service proxy only connects to IPv4 addresses of the pod network %s", strings.Join(skipped, ", "), portName(sp), p.podCIDR)
		}
		pk := portKey{sp.Name, sp.Protocol}
		bal := st.balancers[pk]
		if bal == nil {
			bal = newBalancer()
		}
		bal.update(eps, affinity)
		balancers[pk] = bal
		endpointCounts = append(endpointCounts, fmt.Sprintf("%d/%s:%d", sp.Port, sp.Protocol, len(eps)))
		for _, a := range []netip.Addr{st.clusterIP, st.lbIP} {
			if a.IsValid() {
				wanted[listenerKey{netip.AddrPortFrom(a, uint16(sp.Port)), sp.Protocol}] = bal
			}
		}
	}
	st.balancers = balancers
	for k, e := range st.listeners {
		if wanted[k] != e.bal {
			e.l.close()
			delete(st.listeners, k)
		}
	}
	for k, bal := range wanted {
		if _, ok := st.listeners[k]; ok {
			continue
		}
		l, err := p.listen(k, bal)
		if err != nil {
			w.add("ListenFailed", "cannot listen on %s: %v", k, err)
			errs = append(errs, fmt.Errorf("listen on %s: %w", k, err))
			continue
		}
		st.listeners[k] = listenerEntry{l: l, bal: bal}
	}

	if lb && st.lbIP.IsValid() {
		errs = append(errs, p.publishLoadBalancer(svc, st))
	}

	st.report(p, svc, w)
	if s := st.describe(); s != st.summary {
		st.summary = s
		p.log.Info("service programmed", "service", key, "clusterIP", addrOrNone(st.clusterIP),
			"loadBalancerIP", addrOrNone(st.lbIP), "listeners", s, "endpoints", strings.Join(endpointCounts, " "))
	} else {
		p.log.Debug("service endpoints", "service", key, "endpoints", strings.Join(endpointCounts, " "))
	}
	return errors.Join(errs...)
}

func (p *Proxy) listen(k listenerKey, bal *balancer) (listener, error) {
	log := p.log.With("listener", k.String())
	if k.proto == corev1.ProtocolUDP {
		return listenUDP(k.addr, bal, p.gateway, log)
	}
	return listenTCP(k.addr, bal, p.gateway, log)
}

// clusterIPOf is the Service's IPv4 ClusterIP if the proxy can serve it.
func (p *Proxy) clusterIPOf(svc *corev1.Service, w *warnings) netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out netip.Addr
	for _, s := range ips {
		if s == corev1.ClusterIPNone {
			return netip.Addr{}
		}
		ip, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			w.add("ClusterIPNotServed", "ClusterIP %q is not an IP address", s)
		case !ip.Is4():
			w.add("ClusterIPNotServed", "ClusterIP %s is not served: the local cluster is IPv4 only", ip)
		case !p.serviceCIDR.Contains(ip):
			w.add("ClusterIPNotServed", "ClusterIP %s is not served: it is outside the pod network's Service CIDR %s; start kube-apiserver with --service-cluster-ip-range=%s", ip, p.serviceCIDR, p.serviceCIDR)
		case !out.IsValid():
			out = ip
		}
	}
	return out
}

// setClusterIP makes ip (invalid: none) the Service's served ClusterIP.
func (st *serviceState) setClusterIP(p *Proxy, ip netip.Addr) error {
	if st.clusterIP == ip {
		return nil
	}
	if st.clusterIP.IsValid() {
		st.closeListenersOn(st.clusterIP)
		if err := p.net.RemoveHostAddress(st.clusterIP); err != nil {
			return err
		}
		st.clusterIP = netip.Addr{}
	}
	if ip.IsValid() {
		if err := p.net.AddHostAddress(ip); err != nil {
			return err
		}
		st.clusterIP = ip
	}
	return nil
}

func (st *serviceState) closeListenersOn(a netip.Addr) {
	for k, e := range st.listeners {
		if k.addr.Addr() == a {
			e.l.close()
			delete(st.listeners, k)
		}
	}
}

// teardown closes every listener and removes the Service's host addresses.
// It can be repeated after a failure.
func (st *serviceState) teardown(p *Proxy) error {
	for k, e := range st.listeners {
		e.l.close()
		delete(st.listeners, k)
	}
	var errs []error
	for _, a := range []*netip.Addr{&st.clusterIP, &st.lbIP} {
		if !a.IsValid() {
			continue
		}
		if err := p.net.RemoveHostAddress(*a); err != nil {
			errs = append(errs, err)
			continue
		}
		*a = netip.Addr{}
	}
	return errors.Join(errs...)
}

// describe lists the listeners, sorted, for the log.
func (st *serviceState) describe() string {
	ls := make([]string, 0, len(st.listeners))
	for k := range st.listeners {
		ls = append(ls, k.String())
	}
	slices.Sort(ls)
	return strings.Join(ls, " ")
}

func portName(sp corev1.ServicePort) string {
	if sp.Name == "" {
		return `""`
	}
	return sp.Name
}

func addrOrNone(a netip.Addr) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}
