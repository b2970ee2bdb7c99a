package gatewayapi

import (
	"fmt"
	"net"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// ServiceEntry semantics, as a route backend and as the egress allow-list
// (egress.go). The rules, each with Istio's documentation as reference:
//
//   - exportTo: empty or "*" exports to every namespace, "." to the
//     ServiceEntry's own namespace, "~" to none, anything else names a
//     namespace. A ServiceEntry not exported to a route's namespace does
//     not exist for that route.
//   - resolution STATIC: the endpoints' IP addresses, over EDS.
//   - resolution DNS and DNS_ROUND_ROBIN: the data plane resolves the
//     endpoints' addresses, or the exact hosts when there are no endpoints
//     (every resolved address is an endpoint: edgeway's DNS clusters are
//     Envoy's STRICT_DNS, which serves both Istio modes). An endpoint
//     whose address is neither an IP nor a host name (a wildcard, a Unix
//     socket) is left out, as STATIC leaves out what is not an IP: Istio's
//     validation refuses such an entry, the CRD's schema does not.
//   - resolution NONE means "the caller already resolved the destination"
//     (Istio forwards to the original destination IP). A gateway has no
//     original destination, so NONE is served as close to it as possible:
//     its exact hosts resolved by DNS (for an exact host the requested host
//     is the declared host; Istio's validation forbids endpoints with NONE).
//     A NONE entry with only wildcard hosts cannot be served: there is no
//     dynamic forward proxy in the data plane; its backendRef gets
//     ResolvedRefs=False, UnsupportedValue.
//   - Wildcard hosts are matched (egress allow-list by Host or SNI), never
//     resolved: a DNS entry whose hosts are all wildcards needs endpoints.
//   - workloadSelector selects Pods or WorkloadEntries, which edgeway does
//     not watch (a gateway routes to a Service for Pods): a backendRef to
//     such an entry gets ResolvedRefs=False, UnsupportedValue.
//   - location MESH_INTERNAL marks the cluster (ir.Cluster.MeshInternal);
//     with every endpoint labelled security.istio.io/tlsMode: istio the
//     entry's workloads are reached over Istio mTLS (mesh_serviceentry.go).
//     MESH_EXTERNAL (the default) is never mesh.
//   - endpoint weights weigh endpoints within the cluster; apart from
//     tlsMode, endpoint labels have no routing effect (Istio uses them for
//     DestinationRule subsets, which edgeway does not read).
//   - Hostname conflicts: serviceentry_conflict.go.

// seVisibility is the set of namespaces a ServiceEntry is exported to.
type seVisibility struct {
	all bool
	ns  map[string]bool
}

func visibilityOf(se *istionet.ServiceEntry) seVisibility {
	if len(se.Spec.ExportTo) == 0 {
		return seVisibility{all: true}
	}
	v := seVisibility{ns: map[string]bool{}}
	for _, e := range se.Spec.ExportTo {
		switch e {
		case "*":
			v.all = true
		case ".":
			v.ns[se.Namespace] = true
		case "~":
			// Exported nowhere; "~" alone hides the entry from every namespace.
		default:
			v.ns[e] = true
		}
	}
	return v
}

func (v seVisibility) has(ns string) bool { return v.all || v.ns[ns] }

// intersect returns the namespaces both export to: all=true when both
// export everywhere.
func (v seVisibility) intersect(o seVisibility) seVisibility {
	switch {
	case v.all && o.all:
		return seVisibility{all: true}
	case v.all:
		return o
	case o.all:
		return v
	}
	out := seVisibility{ns: map[string]bool{}}
	for n := range v.ns {
		if o.ns[n] {
			out.ns[n] = true
		}
	}
	return out
}

func (v seVisibility) empty() bool { return !v.all && len(v.ns) == 0 }

func (v seVisibility) String() string {
	if v.all {
		return "every namespace"
	}
	names := make([]string, 0, len(v.ns))
	for n := range v.ns {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return "namespace " + names[0]
	}
	return "namespaces " + strings.Join(names, ", ")
}

// exportedTo reports whether a ServiceEntry is visible in namespace ns.
func exportedTo(se *istionet.ServiceEntry, ns string) bool { return visibilityOf(se).has(ns) }

// sePort finds the ServiceEntry port numbered port.
func sePort(spec *networking.ServiceEntry, port int32) *networking.ServicePort {
	for _, p := range spec.Ports {
		if p != nil && int64(p.Number) == int64(port) {
			return p
		}
	}
	return nil
}

// seClusterFor builds the cluster of one ServiceEntry port (see the rules
// above); the problem explains why the entry cannot be served.
func seClusterFor(se *istionet.ServiceEntry, sp *networking.ServicePort, cname, field string) (*ir.Cluster, problem) {
	spec := &se.Spec
	unsupported := func(format string, a ...any) (*ir.Cluster, problem) {
		return nil, problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s: ServiceEntry %s/%s ", field, se.Namespace, se.Name) + fmt.Sprintf(format, a...)}
	}
	if spec.WorkloadSelector != nil && len(spec.Endpoints) == 0 {
		return unsupported("selects workloads with spec.workloadSelector; edgeway does not watch Pods or WorkloadEntries: route to their Service instead, or list spec.endpoints")
	}
	defaultPort := sp.Number
	if sp.TargetPort != 0 {
		defaultPort = sp.TargetPort
	}
	c := &ir.Cluster{Name: cname, Protocol: serviceEntryProtocol(sp.Protocol), MeshInternal: spec.Location == networking.ServiceEntry_MESH_INTERNAL}
	isIP := func(a string) bool { return net.ParseIP(a) != nil }
	isName := func(a string) bool {
		return a != "" && !isUnixAddress(a) && ir.ValidDNSEndpoint(a)
	}
	switch spec.Resolution {
	case networking.ServiceEntry_STATIC:
		c.Discovery = ir.DiscoveryEDS
		c.Endpoints = workloadEndpoints(spec.Endpoints, sp.Name, defaultPort, isIP)
	case networking.ServiceEntry_DNS, networking.ServiceEntry_DNS_ROUND_ROBIN:
		c.Discovery = ir.DiscoveryDNS
		c.Endpoints = workloadEndpoints(spec.Endpoints, sp.Name, defaultPort, isName)
		if len(spec.Endpoints) == 0 {
			c.Endpoints = hostEndpoints(spec.Hosts, defaultPort)
			if len(c.Endpoints) == 0 {
				return unsupported("has resolution %s, no endpoints and only wildcard hosts: there is no name to resolve; list spec.endpoints or exact hosts", spec.Resolution)
			}
		}
	case networking.ServiceEntry_NONE:
		c.Discovery = ir.DiscoveryDNS
		c.Endpoints = hostEndpoints(spec.Hosts, defaultPort)
		if len(c.Endpoints) == 0 {
			return unsupported("has resolution NONE, no endpoints and only wildcard hosts: a gateway has no original destination to forward to; declare exact hosts, endpoints, or resolution DNS")
		}
	default:
		return unsupported("has resolution %s, which cannot be routed to; use STATIC, DNS, DNS_ROUND_ROBIN or NONE", spec.Resolution)
	}
	return c, problem{}
}

// hostEndpoints are the exact hosts of a ServiceEntry as DNS endpoints.
func hostEndpoints(hosts []string, port uint32) []ir.Endpoint {
	var eps []ir.Endpoint
	seen := map[string]bool{}
	for _, h := range hosts {
		h, ok := serviceEntryHost(h)
		if !ok || h == "" || isWildcard(h) || h == anyHost || seen[h] {
			continue
		}
		seen[h] = true
		eps = append(eps, ir.Endpoint{Address: h, Port: port})
	}
	sortEndpoints(eps)
	return eps
}

// serviceEntryHost is a declared host as edgeway serves it: lower case,
// without the trailing dot of a fully qualified name. ok is false for what
// is no host name (nor "*" or a "*." wildcard): in the IR it would be
// refused and the whole configuration kept as it was.
func serviceEntryHost(h string) (string, bool) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return h, h == anyHost || ir.ValidServerName(h)
}
