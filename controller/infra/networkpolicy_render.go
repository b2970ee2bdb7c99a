package infra

import (
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// networkPolicyConfig is the effective spec.networkPolicy of a Gateway.
type networkPolicyConfig struct {
	enabled      bool
	adminFrom    *metav1.LabelSelector
	dnsTo        []networkingv1.NetworkPolicyPeer
	dnsPort      int32
	clusterCIDRs []string
}

// merge lays the fields s sets over c.
func (c *networkPolicyConfig) merge(s *v1alpha1.NetworkPolicyConfig) {
	if s == nil {
		return
	}
	if s.Enabled != nil {
		c.enabled = *s.Enabled
	}
	if s.AdminNamespaceSelector != nil {
		c.adminFrom = s.AdminNamespaceSelector
	}
	if d := s.DNS; d != nil {
		if len(d.To) > 0 {
			c.dnsTo = d.To
		}
		if d.Port != nil {
			c.dnsPort = *d.Port
		}
	}
	if len(s.ClusterCIDRs) > 0 {
		c.clusterCIDRs = s.ClusterCIDRs
	}
}

// The default DNS server: kube-dns / CoreDNS as kubeadm, kind, GKE, EKS and
// AKS deploy it.
const (
	defaultDNSNamespace = "kube-system"
	defaultDNSPort      = 53
)

var defaultDNSPodLabels = map[string]string{"k8s-app": "kube-dns"}

// xdsServer is where the data plane's xDS connection goes: the Pods the
// controller's xDS Service selects (a NetworkPolicy sees the connection
// after the Service's address was translated to a Pod's), on the
// Service's target port.
type xdsServer struct {
	namespace string
	selector  map[string]string // empty: every Pod of the namespace
	port      intstr.IntOrString
}

// xdsServerOf reads Options.XDSAddress ("<service>.<namespace>.svc:<port>")
// and, when the controller can read it, the xDS Service itself (svc may be
// nil). ok is false for an address of another shape: the rule then only
// names the port.
func xdsServerOf(o Options, svc *corev1.Service) (x xdsServer, ok bool) {
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil {
		return xdsServer{}, false
	}
	p, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return xdsServer{}, false
	}
	x.port = intstr.FromInt32(int32(p))
	labels := strings.Split(host, ".")
	if len(labels) < 2 || net.ParseIP(host) != nil {
		return x, false
	}
	name := labels[0]
	x.namespace = labels[1]
	if svc == nil || svc.Namespace != x.namespace || svc.Name != name || len(svc.Spec.Selector) == 0 {
		return x, true
	}
	x.selector = svc.Spec.Selector
	for _, sp := range svc.Spec.Ports {
		if int64(sp.Port) == p && (sp.TargetPort.IntVal != 0 || sp.TargetPort.StrVal != "") {
			x.port = sp.TargetPort
		}
	}
	return x, true
}

// renderNetworkPolicy is the NetworkPolicy of gw's data plane Pods (nil
// when the option is off). backends are what its IR connects to
// (backendsOf); xdsService is the controller's xDS Service (nil when it
// cannot be read). A Problem (an invalid cluster CIDR) leaves the
// offending value out and is reported.
func renderNetworkPolicy(gw *gwv1.Gateway, sets []gwv1.ListenerSet, cfg config, o Options, xdsService *corev1.Service, backends []Backend) (*networkingv1ac.NetworkPolicyApplyConfiguration, *Problem) {
	np := cfg.networkPolicy
	if !np.enabled {
		return nil, nil
	}
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(gw.Name))).
		WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)

	// Ingress: the listener ports (the Gateway's and its ListenerSets'),
	// from anywhere: they are what the Gateway is for.
	if ports := listenerPorts(gw, sets); len(ports) > 0 {
		rule := networkingv1ac.NetworkPolicyIngressRule()
		for _, p := range ports {
			rule.WithPorts(policyPort(p.protocol, intstr.FromInt32(p.number)))
		}
		spec.WithIngress(rule)
	}
	// The admin port (metrics, probes) from the namespaces the user names.
	if np.adminFrom != nil {
		spec.WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(labelSelectorAC(np.adminFrom))).
			WithPorts(policyPort(corev1.ProtocolTCP, intstr.FromInt32(adminPort))))
	}

	// Egress 1: the controller's xDS port.
	xds, ok := xdsServerOf(o, xdsService)
	xdsRule := networkingv1ac.NetworkPolicyEgressRule().WithPorts(policyPort(corev1.ProtocolTCP, xds.port))
	if ok {
		peer := networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(namespaceNamed(xds.namespace))
		if len(xds.selector) > 0 {
			peer.WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(xds.selector))
		}
		xdsRule.WithTo(peer)
	}
	if xds.port.IntVal != 0 || xds.port.StrVal != "" {
		spec.WithEgress(xdsRule)
	}

	// Egress 2: DNS, UDP and TCP (answers that do not fit UDP).
	dnsPort := np.dnsPort
	if dnsPort == 0 {
		dnsPort = defaultDNSPort
	}
	dns := networkingv1ac.NetworkPolicyEgressRule().WithPorts(
		policyPort(corev1.ProtocolUDP, intstr.FromInt32(dnsPort)),
		policyPort(corev1.ProtocolTCP, intstr.FromInt32(dnsPort)))
	if len(np.dnsTo) == 0 {
		dns.WithTo(networkingv1ac.NetworkPolicyPeer().
			WithNamespaceSelector(namespaceNamed(defaultDNSNamespace)).
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(defaultDNSPodLabels)))
	}
	for i := range np.dnsTo {
		dns.WithTo(peerAC(&np.dnsTo[i]))
	}
	spec.WithEgress(dns)

	// Egress 3: the backends, one rule per set of ports (a rule allows
	// every one of its peers on every one of its ports, so peers sharing
	// the same ports share a rule and nothing more is allowed).
	v4, v6, problem := splitCIDRs(np.clusterCIDRs)
	for _, r := range groupBackends(backends) {
		rule := networkingv1ac.NetworkPolicyEgressRule()
		for _, p := range r.peers {
			switch {
			case p.Anywhere:
				rule.WithTo(
					networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(v4...)),
					networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("::/0").WithExcept(v6...)))
			case p.CIDR != "":
				rule.WithTo(networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR(p.CIDR)))
			default:
				rule.WithTo(networkingv1ac.NetworkPolicyPeer().
					WithNamespaceSelector(namespaceNamed(p.Namespace)).
					WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(p.Selector)))
			}
		}
		for _, b := range r.ports {
			rule.WithPorts(policyPort(b.Protocol, b.Port))
		}
		spec.WithEgress(rule)
	}

	return networkingv1ac.NetworkPolicy(ResourceName(gw.Name), gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
		WithOwnerReferences(ownerRef(gw)).
		WithSpec(spec), problem
}

// backendRule is the peers that share one set of ports.
type backendRule struct {
	peers []BackendPeer
	ports []Backend // Peer unset
}

// groupBackends groups sorted Backends by peer, then peers by their port
// set, in the order of each group's first peer.
func groupBackends(bs []Backend) []backendRule {
	var rules []backendRule
	index := map[string]int{} // port set -> rule
	for i := 0; i < len(bs); {
		peer := bs[i].Peer
		var ports []Backend
		var key strings.Builder
		for ; i < len(bs) && bs[i].Peer.key() == peer.key(); i++ {
			ports = append(ports, Backend{Port: bs[i].Port, Protocol: bs[i].Protocol})
			key.WriteString(bs[i].portKey() + ",")
		}
		if j, ok := index[key.String()]; ok {
			rules[j].peers = append(rules[j].peers, peer)
			continue
		}
		index[key.String()] = len(rules)
		rules = append(rules, backendRule{peers: []BackendPeer{peer}, ports: ports})
	}
	return rules
}

// splitCIDRs sorts the cluster CIDRs by family (an ipBlock's except must
// lie inside its cidr); an invalid one is left out and reported.
func splitCIDRs(cidrs []string) (v4, v6 []string, problem *Problem) {
	var bad []string
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			bad = append(bad, strconv.Quote(c))
			continue
		}
		if n.IP.To4() != nil {
			v4 = append(v4, n.String())
		} else {
			v6 = append(v6, n.String())
		}
	}
	if len(bad) > 0 {
		problem = problemf(gwv1.GatewayReasonInvalidParameters,
			"EdgewayConfig spec.networkPolicy.clusterCIDRs: %s not a CIDR (write e.g. 10.96.0.0/12); the NetworkPolicy leaves it out", strings.Join(bad, ", "))
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return slices.Compact(v4), slices.Compact(v6), problem
}

func policyPort(protocol corev1.Protocol, port intstr.IntOrString) *networkingv1ac.NetworkPolicyPortApplyConfiguration {
	return networkingv1ac.NetworkPolicyPort().WithProtocol(protocol).WithPort(port)
}

// namespaceNamed selects one namespace by the label the API server sets on
// every namespace.
func namespaceNamed(ns string) *metav1ac.LabelSelectorApplyConfiguration {
	return metav1ac.LabelSelector().WithMatchLabels(map[string]string{corev1.LabelMetadataName: ns})
}

func labelSelectorAC(s *metav1.LabelSelector) *metav1ac.LabelSelectorApplyConfiguration {
	ac := metav1ac.LabelSelector()
	if len(s.MatchLabels) > 0 {
		ac.WithMatchLabels(s.MatchLabels)
	}
	for _, e := range s.MatchExpressions {
		ac.WithMatchExpressions(metav1ac.LabelSelectorRequirement().
			WithKey(e.Key).WithOperator(e.Operator).WithValues(e.Values...))
	}
	return ac
}

func peerAC(p *networkingv1.NetworkPolicyPeer) *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
	ac := networkingv1ac.NetworkPolicyPeer()
	if p.PodSelector != nil {
		ac.WithPodSelector(labelSelectorAC(p.PodSelector))
	}
	if p.NamespaceSelector != nil {
		ac.WithNamespaceSelector(labelSelectorAC(p.NamespaceSelector))
	}
	if b := p.IPBlock; b != nil {
		ac.WithIPBlock(networkingv1ac.IPBlock().WithCIDR(b.CIDR).WithExcept(b.Except...))
	}
	return ac
}
