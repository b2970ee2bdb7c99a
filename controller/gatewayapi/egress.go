package gatewayapi

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/ir"
)

// The egress gateway (controller/apis/v1alpha1/egress_types.go). A Gateway
// whose effective EdgewayConfig sets spec.egress gets, on each of its
// servable listeners, one synthetic attachment per host that a visible
// ServiceEntry declares, plus a catch-all that refuses:
//
//   - HTTP listeners: a virtual host per declared host forwarding to the
//     entry's port (PathPrefix "/"), and the listener's catch-all domain
//     answering 403 (route EgressRefusedRoute) with a body saying why.
//   - TLS Passthrough listeners: a passthrough chain per declared host
//     (SNI), and a refusing chain without server names: any other SNI, or
//     none, is closed before the handshake.
//
// Visible: exported to the Gateway's namespace (the data plane does not
// know the caller's namespace; an identity-aware allow-list needs the
// caller's mTLS identity). When several entries declare a host, the one
// created first wins it (serviceentry_conflict.go). Routes attached to the
// Gateway by users are served as on any Gateway, beside the synthetic
// ones, with Gateway API precedence.
//
// Clusters: an entry with endpoints (STATIC, DNS with endpoints) uses its
// ordinary cluster "serviceentry/<ns>/<name>/<port>"; an entry resolved by
// its hosts (DNS or NONE without endpoints) gets one cluster per host,
// "serviceentry/<ns>/<name>/<port>/<host>", so that each declared host
// reaches its own addresses, as Istio does; its wildcard hosts cannot be
// resolved without a dynamic forward proxy and are reported (condition
// ServiceEntryEgressUnserved on the entry) and refused.

// EgressRefusedRoute is the name of the route answering 403 on egress HTTP
// listeners, and EgressRefusedChain the name of the refusing TLS chain: the
// data plane's refusal log and metric carry them.
const (
	EgressRefusedRoute = "egress/refused"
	EgressRefusedChain = "refuse/*"
)

// ServiceEntryEgressUnserved is the condition type set on a ServiceEntry
// some of whose hosts an egress Gateway cannot serve.
const ServiceEntryEgressUnserved = "gateway.edgeway.dev/EgressUnserved"

// egressConfig is the Gateway's effective egress setting: its own
// EdgewayConfig's if that sets it, else its GatewayClass's (the
// provisioner's field-by-field rule, controller/infra).
func (t *translator) egressConfig(g *gatewayCtx) *v1alpha1.EgressConfig {
	find := func(ns, name string) *v1alpha1.EdgewayConfig {
		for _, c := range t.snap.EdgewayConfigs {
			if c != nil && c.Namespace == ns && c.Name == name {
				return c
			}
		}
		return nil
	}
	if inf := g.obj.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		if c := find(g.obj.Namespace, inf.ParametersRef.Name); c != nil && c.Spec.Egress != nil {
			return c.Spec.Egress
		}
	}
	for _, gc := range t.snap.GatewayClasses {
		if gc == nil || gc.Name != string(g.obj.Spec.GatewayClassName) || gc.Spec.ParametersRef == nil || gc.Spec.ParametersRef.Namespace == nil {
			continue
		}
		if c := find(string(*gc.Spec.ParametersRef.Namespace), gc.Spec.ParametersRef.Name); c != nil {
			return c.Spec.Egress
		}
	}
	return nil
}

// egressHost is one declared host an egress Gateway serves.
type egressHost struct {
	host string
	se   *istionet.ServiceEntry
}

// attachEgress adds the synthetic attachments of every egress Gateway.
func (t *translator) attachEgress() {
	unserved := map[*istionet.ServiceEntry][]string{}
	for _, g := range t.gateways {
		if !g.addressProblem.ok() || t.egressConfig(g) == nil {
			continue
		}
		hosts := t.egressHosts(g.obj.Namespace, unserved)
		for _, ls := range g.listeners {
			if !ls.servable() {
				continue
			}
			switch {
			case ls.kind == socketHTTP:
				t.egressHTTP(g, ls, hosts, unserved)
			case ls.kind == socketTLS && ls.passthrough:
				t.egressPassthrough(g, ls, hosts, unserved)
			}
		}
	}
	for _, se := range t.snap.ServiceEntries {
		if se == nil || len(unserved[se]) == 0 {
			continue
		}
		t.seCondition(se, cond(ServiceEntryEgressUnserved, true, "EgressUnserved", strings.Join(dedupe(unserved[se]), "; "), se.Generation))
	}
}

// egressHosts are the hosts the ServiceEntries visible in ns declare, each
// with the entry that wins it, in ServiceEntry order (namespace, name). A
// host that is no host name is reported in unserved and left out: in the
// IR it would be refused, and the Gateway would keep its old allow-list.
func (t *translator) egressHosts(ns string, unserved map[*istionet.ServiceEntry][]string) []egressHost {
	var out []egressHost
	seen := map[string]bool{}
	for _, se := range t.snap.ServiceEntries {
		if se == nil || !exportedTo(se, ns) {
			continue
		}
		for _, declared := range se.Spec.Hosts {
			lower := strings.ToLower(declared)
			if lower == "" || lower == anyHost || t.seForHost(lower, ns) != se {
				continue
			}
			h, ok := serviceEntryHost(lower)
			if !ok {
				unserved[se] = append(unserved[se], fmt.Sprintf("spec.hosts: %q is not a host name (letters, digits, '-' and '.', or a leading \"*.\"); it is refused", declared))
				continue
			}
			if seen[h] {
				continue
			}
			seen[h] = true
			out = append(out, egressHost{host: h, se: se})
		}
	}
	return out
}

func (t *translator) egressHTTP(g *gatewayCtx, ls *listenerCtx, hosts []egressHost, unserved map[*istionet.ServiceEntry][]string) {
	for _, eh := range hosts {
		d := intersect(ls.hostname, eh.host)
		if d == "" {
			continue
		}
		sp := egressPort(eh.se, ls.port, "HTTP", "HTTP2", "GRPC")
		if sp == nil {
			continue // no HTTP port: the host is not declared for HTTP
		}
		cname, why := t.egressCluster(g, eh, sp)
		if cname == "" {
			unserved[eh.se] = append(unserved[eh.se], why)
			continue
		}
		obj := egressRoute(eh.se)
		m := &httpMatch{route: obj, ir: &ir.Route{
			Name:    fmt.Sprintf("egress/%s/%s/%s", eh.se.Namespace, eh.se.Name, d),
			Match:   ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
			Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: cname, Weight: 1}}},
		}}
		ls.http = append(ls.http, &httpAttachment{route: obj, domain: d, matches: []*httpMatch{m}})
	}
	// The catch-all: every host no declared domain (or user route) covers.
	obj := &gwv1.HTTPRoute{}
	obj.Namespace, obj.Name = g.obj.Namespace, EgressRefusedRoute
	refused := &httpMatch{route: obj, ir: &ir.Route{
		Name:  EgressRefusedRoute,
		Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
		DirectResponse: &ir.DirectResponse{StatusCode: 403, Body: fmt.Sprintf(
			"edgeway egress: the requested host is not declared by any ServiceEntry visible to namespace %s\n", g.obj.Namespace)},
	}}
	ls.http = append(ls.http, &httpAttachment{route: obj, domain: pattern(ls.hostname), matches: []*httpMatch{refused}})
}

func (t *translator) egressPassthrough(g *gatewayCtx, ls *listenerCtx, hosts []egressHost, unserved map[*istionet.ServiceEntry][]string) {
	for _, eh := range hosts {
		d := intersect(ls.hostname, eh.host)
		if d == "" {
			continue
		}
		sp := egressPort(eh.se, ls.port, "TLS", "HTTPS")
		if sp == nil {
			continue
		}
		cname, why := t.egressCluster(g, eh, sp)
		if cname == "" {
			unserved[eh.se] = append(unserved[eh.se], why)
			continue
		}
		ls.tls = append(ls.tls, &tlsAttachment{route: egressTLSRoute(eh.se), domain: d, backends: []ir.WeightedCluster{{Cluster: cname, Weight: 1}}})
	}
	// No backend: passthroughChains turns the catch-all into the refusing
	// chain "refuse/*" without server names.
	obj := &gwv1.TLSRoute{}
	obj.Namespace, obj.Name = g.obj.Namespace, EgressRefusedChain
	ls.tls = append(ls.tls, &tlsAttachment{route: obj, domain: pattern(ls.hostname)})
}

// egressPort is the ServiceEntry port serving a listener: the one numbered
// like the listener, else the first with one of the protocols.
func egressPort(se *istionet.ServiceEntry, listenerPort uint32, protocols ...string) *networking.ServicePort {
	if sp := sePort(&se.Spec, int32(listenerPort)); sp != nil {
		return sp
	}
	for _, p := range se.Spec.Ports {
		if p == nil {
			continue
		}
		for _, want := range protocols {
			if strings.EqualFold(p.Protocol, want) {
				return p
			}
		}
	}
	return nil
}

// egressCluster is the cluster serving one declared host; "" and why not.
func (t *translator) egressCluster(g *gatewayCtx, eh egressHost, sp *networking.ServicePort) (string, string) {
	se := eh.se
	field := fmt.Sprintf("Gateway %s (egress) host %q", g.key, eh.host)
	byHosts := len(se.Spec.Endpoints) == 0 && (se.Spec.Resolution == networking.ServiceEntry_DNS ||
		se.Spec.Resolution == networking.ServiceEntry_DNS_ROUND_ROBIN || se.Spec.Resolution == networking.ServiceEntry_NONE)
	if !byHosts {
		cname, p := t.serviceEntryCluster(g.obj.Namespace, se.Namespace, se.Name, int32(sp.Number), field)
		if !p.ok() {
			return "", p.message
		}
		return cname, ""
	}
	if isWildcard(eh.host) {
		return "", fmt.Sprintf("%s: a wildcard host of a ServiceEntry without endpoints (resolution %s) has no name to resolve, and edgeway has no dynamic forward proxy; declare the exact hosts, or endpoints", field, se.Spec.Resolution)
	}
	cname := fmt.Sprintf("serviceentry/%s/%s/%d/%s", se.Namespace, se.Name, sp.Number, eh.host)
	if _, ok := t.clusters[cname]; ok {
		return cname, ""
	}
	c, p := seClusterFor(se, sp, cname, field)
	if !p.ok() {
		return "", p.message
	}
	port := sp.Number
	if sp.TargetPort != 0 {
		port = sp.TargetPort
	}
	c.Discovery = ir.DiscoveryDNS
	c.Endpoints = []ir.Endpoint{{Address: eh.host, Port: port}}
	t.clusters[cname] = c
	return cname, ""
}

// egressRoute and egressTLSRoute stand for a ServiceEntry in route
// precedence: its age and name.
func egressRoute(se *istionet.ServiceEntry) *gwv1.HTTPRoute {
	r := &gwv1.HTTPRoute{}
	r.Namespace, r.Name, r.CreationTimestamp = se.Namespace, "egress/"+se.Name, se.CreationTimestamp
	return r
}

func egressTLSRoute(se *istionet.ServiceEntry) *gwv1.TLSRoute {
	r := &gwv1.TLSRoute{}
	r.Namespace, r.Name, r.CreationTimestamp = se.Namespace, "egress/"+se.Name, se.CreationTimestamp
	return r
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
