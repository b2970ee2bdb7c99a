package infra

import (
	"cmp"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// What a Gateway's data plane may connect to is exactly what its xDS
// configuration makes it connect to: the clusters of the Gateway's own IR
// (ir.SplitByGateway), the output of translation. The provisioner reads
// them from the kube source's Result (Snapshot + per-Gateway IR), which
// every replica computes anyway; nothing in translation or the IR knows
// about NetworkPolicies, and infra only reads those packages' data types
// (the dependencies keep pointing one way: infra -> ir, snapshot).
//
// Each cluster becomes Backends, in the terms a NetworkPolicy can say:
//
//   - "service/<ns>/<name>/<port>" of a Service with a selector: the Pods
//     it selects in its namespace, on the Service port's targetPort (a
//     named targetPort stays named: NetworkPolicy resolves it per Pod).
//     Pod IPs come and go; the selector does not.
//   - any other EDS cluster (a STATIC ServiceEntry, a Service without a
//     selector whose EndpointSlices are written by hand): each endpoint's
//     address as a /32 (/128) on the endpoint's port.
//   - a DNS cluster (a DNS or DNS_ROUND_ROBIN ServiceEntry, an
//     ExternalName Service): the data plane resolves hostnames, and a
//     NetworkPolicy cannot name a hostname, so the endpoint ports are
//     opened to any address except the cluster CIDRs the user lists
//     (NetworkPolicyConfig.ClusterCIDRs).
//
// An egress Gateway (issue 8) feeds the same rules: each ServiceEntry on
// its allow-list becomes clusters in its IR like any route's backend, so
// its declared external endpoints are opened by the cases above with no
// code of its own. If an egress Gateway ever forwards to hosts without a
// cluster per ServiceEntry (resolving the requested host at request time),
// serviceEntryBackends turns each allowed ServiceEntry into the same
// Backends; append them to what backendsOf returns for that Gateway.

// Backend is one (peer, port) a data plane connects to.
type Backend struct {
	Peer     BackendPeer
	Port     intstr.IntOrString
	Protocol corev1.Protocol
}

// BackendPeer is one of: Pods (Namespace + Selector), one address (CIDR),
// or any address but the cluster's (Anywhere).
type BackendPeer struct {
	Namespace string
	Selector  map[string]string
	CIDR      string
	Anywhere  bool
}

// key orders and groups peers; it is unique per peer.
func (p BackendPeer) key() string {
	switch {
	case p.Anywhere:
		return "2/anywhere"
	case p.CIDR != "":
		return "1/" + p.CIDR
	}
	var b strings.Builder
	b.WriteString("0/" + p.Namespace)
	for _, k := range slices.Sorted(maps.Keys(p.Selector)) {
		b.WriteString("/" + k + "=" + p.Selector[k])
	}
	return b.String()
}

func (b Backend) portKey() string {
	return string(b.Protocol) + "/" + b.Port.String()
}

// backendsOf lists, sorted and without duplicates, what the data plane of
// a Gateway with IR x connects to. snap resolves Services and
// ServiceEntries by the names in the cluster names.
func backendsOf(x *ir.IR, snap *snapshot.Snapshot) []Backend {
	if x == nil {
		return nil
	}
	services := map[string]*corev1.Service{}
	entries := map[string]*istionet.ServiceEntry{}
	if snap != nil {
		for _, s := range snap.Services {
			services[s.Namespace+"/"+s.Name] = s
		}
		for _, s := range snap.ServiceEntries {
			entries[s.Namespace+"/"+s.Name] = s
		}
	}
	var out []Backend
	for _, c := range x.Clusters {
		if c == nil {
			continue
		}
		kind, obj, port := parseClusterName(c.Name)
		protocol := corev1.ProtocolTCP
		switch kind {
		case "service":
			svc := services[obj]
			if svc == nil {
				break
			}
			if svc.Spec.Type != corev1.ServiceTypeExternalName && len(svc.Spec.Selector) > 0 {
				out = append(out, selectedPods(svc, port)...)
				continue
			}
			for _, sp := range svc.Spec.Ports {
				if sp.Port == port && sp.Protocol != "" {
					protocol = sp.Protocol
					break
				}
			}
		case "serviceentry":
			if se := entries[obj]; se != nil {
				for _, sp := range se.Spec.Ports {
					if sp != nil && int64(sp.Number) == int64(port) {
						protocol = serviceEntryProtocol(sp.Protocol)
						break
					}
				}
			}
		}
		out = append(out, endpointBackends(c, protocol)...)
	}
	return sortBackends(out)
}

// parseClusterName splits "<kind>/<ns>/<name>/<port>" into the kind, the
// "<ns>/<name>" of the object and the port (0 when the name has another
// shape).
func parseClusterName(name string) (kind, obj string, port int32) {
	parts := strings.Split(strings.TrimSuffix(name, ir.HTTP2TwinSuffix), "/")
	if len(parts) != 4 {
		return "", "", 0
	}
	p, err := strconv.ParseInt(parts[3], 10, 32)
	if err != nil {
		return "", "", 0
	}
	return parts[0], parts[1] + "/" + parts[2], int32(p)
}

// selectedPods: the Pods svc selects, on the targetPort of every port of
// svc numbered port (a port number may be both TCP and UDP).
func selectedPods(svc *corev1.Service, port int32) []Backend {
	var out []Backend
	peer := BackendPeer{Namespace: svc.Namespace, Selector: maps.Clone(svc.Spec.Selector)}
	for _, sp := range svc.Spec.Ports {
		if sp.Port != port {
			continue
		}
		target := sp.TargetPort
		if (target.Type == intstr.Int && target.IntVal == 0) || (target.Type == intstr.String && target.StrVal == "") {
			target = intstr.FromInt32(sp.Port)
		}
		out = append(out, Backend{Peer: peer, Port: target, Protocol: cmp.Or(sp.Protocol, corev1.ProtocolTCP)})
	}
	return out
}

// endpointBackends: each endpoint address of an EDS cluster, or any address
// on the endpoint ports of a DNS cluster.
func endpointBackends(c *ir.Cluster, protocol corev1.Protocol) []Backend {
	var out []Backend
	for _, ep := range c.Endpoints {
		b := Backend{Port: intstr.FromInt32(int32(ep.Port)), Protocol: protocol}
		switch c.Discovery {
		case ir.DiscoveryEDS:
			cidr, ok := hostCIDR(ep.Address)
			if !ok {
				continue
			}
			b.Peer = BackendPeer{CIDR: cidr}
		default: // DNS, and any discovery added later: hostnames resolved by the data plane
			b.Peer = BackendPeer{Anywhere: true}
		}
		out = append(out, b)
	}
	return out
}

// serviceEntryBackends are the Backends of every port of a ServiceEntry,
// from its spec alone: STATIC endpoints as addresses, DNS (and NONE: the
// original destination, unknown in advance) as any address. For an egress
// Gateway whose allow-list does not become clusters; see the top of this
// file.
func serviceEntryBackends(se *istionet.ServiceEntry) []Backend {
	var out []Backend
	for _, sp := range se.Spec.Ports {
		if sp == nil {
			continue
		}
		protocol := serviceEntryProtocol(sp.Protocol)
		defaultPort := sp.Number
		if sp.TargetPort != 0 {
			defaultPort = sp.TargetPort
		}
		if se.Spec.Resolution != networking.ServiceEntry_STATIC {
			out = append(out, Backend{Peer: BackendPeer{Anywhere: true}, Port: intstr.FromInt32(int32(defaultPort)), Protocol: protocol})
			for _, we := range se.Spec.Endpoints {
				if p, ok := we.GetPorts()[sp.Name]; ok && p != 0 {
					out = append(out, Backend{Peer: BackendPeer{Anywhere: true}, Port: intstr.FromInt32(int32(p)), Protocol: protocol})
				}
			}
			continue
		}
		for _, we := range se.Spec.Endpoints {
			cidr, ok := hostCIDR(we.GetAddress())
			if !ok {
				continue
			}
			p := defaultPort
			if v, ok := we.GetPorts()[sp.Name]; ok && v != 0 {
				p = v
			}
			out = append(out, Backend{Peer: BackendPeer{CIDR: cidr}, Port: intstr.FromInt32(int32(p)), Protocol: protocol})
		}
	}
	return sortBackends(out)
}

// serviceEntryProtocol: Istio's port protocol names; only UDP is not TCP.
func serviceEntryProtocol(p string) corev1.Protocol {
	if strings.EqualFold(p, "UDP") {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// hostCIDR is the /32 or /128 of an IP address.
func hostCIDR(addr string) (string, bool) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return "", false
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String() + "/32", true
	}
	return ip.String() + "/128", true
}

func sortBackends(bs []Backend) []Backend {
	slices.SortFunc(bs, func(a, b Backend) int {
		return cmp.Or(strings.Compare(a.Peer.key(), b.Peer.key()), compareBackendPorts(a, b))
	})
	return slices.CompactFunc(bs, func(a, b Backend) bool {
		return a.Peer.key() == b.Peer.key() && a.portKey() == b.portKey()
	})
}

// compareBackendPorts: numbers in order, before names; TCP before UDP.
func compareBackendPorts(a, b Backend) int {
	if a.Port.Type != b.Port.Type {
		return cmp.Compare(a.Port.Type, b.Port.Type)
	}
	return cmp.Or(cmp.Compare(a.Port.IntVal, b.Port.IntVal), strings.Compare(a.Port.StrVal, b.Port.StrVal), strings.Compare(string(a.Protocol), string(b.Protocol)))
}
