package upstream

import (
	"context"
	"flag"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

// unusableStaticAddress is GatewayStaticAddresses' address that the load
// balancer cannot give: in 192.0.2.0/24 (TEST-NET-1, RFC 5737), outside
// every pod block, so the local load balancer (conformance/serviceproxy)
// always leaves it out. It is only ever written into a Gateway and its
// Service's annotation; nothing connects to it and no packet is sent to it.
const unusableStaticAddress = "192.0.2.10"

// setStaticAddresses fills the suite's address pools for the test
// GatewayStaticAddresses unless the caller passes -usable-address /
// -unusable-address (which flags.ApplyAll then applies): the unusable one is
// unusableStaticAddress, the usable one a free address of the local
// cluster's pod block (localUsableAddress).
func setStaticAddresses(ctx context.Context, cs kubernetes.Interface, opts *suite.ConfigurableOptions) error {
	ipType := gwv1.IPAddressType
	if !flagPassed("unusable-address") {
		opts.UnusableNetworkAddresses = []gwv1.GatewaySpecAddress{{Type: &ipType, Value: unusableStaticAddress}}
	}
	if flagPassed("usable-address") {
		return nil
	}
	usable, err := localUsableAddress(ctx, cs)
	if err != nil {
		return fmt.Errorf("GatewayStaticAddresses needs an address the load balancer can give: %w; "+
			"against another cluster than the local one, pass -usable-address and -unusable-address after -args", err)
	}
	opts.UsableNetworkAddresses = []gwv1.GatewaySpecAddress{{Type: &ipType, Value: usable.String()}}
	return nil
}

// localUsableAddress is a free address of the local cluster's pod block,
// the block the local load balancer gives addresses from: the Node's
// spec.podCIDR (its InternalIP is the block's gateway, the first address).
// Pod IPs and unrequested load balancer addresses are allocated round-robin
// upwards from the gateway, so the address is taken from the other end:
// the highest address below the broadcast address that no Pod and no
// Service's load balancer has now. A run would have to allocate the whole
// /20 (4093 addresses) before it reached it.
func localUsableAddress(ctx context.Context, cs kubernetes.Interface) (netip.Addr, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing Nodes: %w", err)
	}
	if len(nodes.Items) != 1 {
		return netip.Addr{}, fmt.Errorf("the local cluster has one Node, this cluster has %d", len(nodes.Items))
	}
	node := nodes.Items[0]
	block, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil || !block.Addr().Is4() || block.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("Node %s has spec.podCIDR %q, not the IPv4 pod block of the local cluster", node.Name, node.Spec.PodCIDR)
	}
	used, err := usedAddresses(ctx, cs)
	if err != nil {
		return netip.Addr{}, err
	}
	return highestFree(block, used)
}

// highestFree is the highest address of block, below its broadcast address
// and above its gateway (the first address after the network address),
// that is not used.
func highestFree(block netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	gateway := block.Masked().Addr().Next()
	for a := broadcast(block).Prev(); a.Compare(gateway) > 0; a = a.Prev() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("every address of the pod block %s is in use", block)
}

// usedAddresses are the Pods' IPs and the Services' load balancer IPs.
func usedAddresses(ctx context.Context, cs kubernetes.Interface) (map[netip.Addr]bool, error) {
	used := map[netip.Addr]bool{}
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			used[a] = true
		}
	}
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Pods: %w", err)
	}
	for _, p := range pods.Items {
		for _, ip := range p.Status.PodIPs {
			add(ip.IP)
		}
	}
	svcs, err := cs.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	for _, s := range svcs.Items {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			add(in.IP)
		}
	}
	return used, nil
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// flagPassed reports whether the caller set the flag on the command line.
func flagPassed(name string) bool {
	passed := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			passed = true
		}
	})
	return passed
}

func addressValues(addrs []gwv1.GatewaySpecAddress) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.Value)
	}
	return out
}
