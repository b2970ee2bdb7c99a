package gatewayapi

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// istioGroup is the API group of Istio's ServiceEntry.
const istioGroup = "networking.istio.io"

// backend is one resolved backendRef: a cluster name and its weight.
type backend struct {
	cluster string
	weight  uint32
}

// weightOf is the Gateway API weight: default 1, negative treated as 0 (never chosen).
func weightOf(w *int32) uint32 {
	if w == nil {
		return 1
	}
	if *w < 0 {
		return 0
	}
	return uint32(*w)
}

// resolveBackend resolves a backendRef of a route (from) into an IR cluster.
// The problem's reason is a RouteConditionReason for ResolvedRefs=False.
// While an HTTPRoute is compiled for a Translator, every call is recorded
// (memo.go): the compiled rules are reused only if the same calls resolve
// the same way in a later Snapshot.
func (t *translator) resolveBackend(from objRef, ref gwv1.BackendObjectReference, field string) (string, problem) {
	c, p := t.resolveBackendRef(from, ref, field)
	if t.recording != nil {
		t.recording.calls = append(t.recording.calls, backendCall{from: from, ref: ref, field: field, cluster: c, problem: p})
	}
	return c, p
}

// resolveBackendRef is resolveBackend without the recording. Calling it
// twice with the same arguments in one translation yields the same result.
func (t *translator) resolveBackendRef(from objRef, ref gwv1.BackendObjectReference, field string) (string, problem) {
	group, kind := "", "Service"
	if ref.Group != nil {
		group = coreGroup(string(*ref.Group))
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := from.namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	name := string(ref.Name)
	isService := group == "" && kind == "Service"
	isServiceEntry := group == istioGroup && kind == "ServiceEntry"
	if !isService && !isServiceEntry {
		return "", problem{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("%s: backend kind %s/%s is not supported; use a core Service or a %s ServiceEntry", field, group, kind, istioGroup)}
	}
	if !t.refAllowed(from, objRef{group, kind, ns, name}) {
		return "", problem{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("%s: %s %s/%s is in another namespace and no ReferenceGrant in %s allows %ss from %s to reference it", field, kind, ns, name, ns, from.kind, from.namespace)}
	}
	if ref.Port == nil {
		return "", problem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s.port: a port is required for a %s backend", field, kind)}
	}
	port := *ref.Port
	if isService {
		if p := t.meshBackendProblem(from, ns, name, port, field); !p.ok() {
			return "", p
		}
		return t.serviceCluster(ns, name, port, field)
	}
	if p := t.serviceEntryMeshProblem(from, ns, name, field); !p.ok() {
		return "", p
	}
	return t.serviceEntryCluster(from.namespace, ns, name, port, field)
}

// serviceCluster builds "service/<ns>/<name>/<port>" from the Service and its
// EndpointSlices (label kubernetes.io/service-name).
func (t *translator) serviceCluster(ns, name string, port int32, field string) (string, problem) {
	// Keys are built in the translator's scratch space, and a map lookup
	// by string(bytes) allocates nothing: this runs for every backendRef
	// of every route (replayed for reused ones, memo.go) on every
	// translation, and the cluster usually exists already.
	b := append(t.nameScratch[:0], ns...)
	b = append(b, '/')
	b = append(b, name...)
	t.nameScratch = b
	svc := t.services[string(b)]
	if svc == nil {
		return "", problem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: Service %s/%s not found", field, ns, name)}
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return "", problem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s.port: Service %s/%s has no port %d", field, ns, name, port)}
	}
	b = append(b[:0], "service/"...)
	b = append(b, ns...)
	b = append(b, '/')
	b = append(b, name...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(port), 10)
	t.nameScratch = b
	if c, ok := t.clusters[string(b)]; ok {
		if c.Name == string(b) {
			return c.Name, problem{}
		}
		return string(b), problem{}
	}
	cname := string(b)
	c := &ir.Cluster{Name: cname, Discovery: ir.DiscoveryEDS, Protocol: appProtocol(sp.AppProtocol)}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// An ExternalName Service is a DNS alias (a CNAME, no proxying):
		// resolve it like a DNS ServiceEntry, on the Service's port, where a
		// client in the cluster would connect. Kubernetes ignores targetPort
		// here, and a named one could not be resolved anyway.
		c.Discovery = ir.DiscoveryDNS
		if a := svc.Spec.ExternalName; a != "" && !ir.ValidDNSEndpoint(a) {
			// The API server checks the characters, not each label's length.
			return "", problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s: Service %s/%s: spec.externalName %q is not a name the data plane can resolve: each label (between dots) must be 1-63 characters", field, ns, name, a)}
		}
		if svc.Spec.ExternalName != "" {
			c.Endpoints = []ir.Endpoint{{Address: svc.Spec.ExternalName, Port: uint32(sp.Port)}}
		}
	} else {
		c.Endpoints = t.sliceEndpoints(key(ns, name), sp)
	}
	t.clusters[cname] = c
	return cname, problem{}
}

// targetPortNumber is the numeric targetPort, or the service port if unset.
// A named targetPort cannot be resolved without Pods: 0.
func targetPortNumber(sp *corev1.ServicePort) uint32 {
	if sp.TargetPort.IntVal > 0 {
		return uint32(sp.TargetPort.IntVal)
	}
	if sp.TargetPort.StrVal == "" {
		return uint32(sp.Port)
	}
	return 0
}

// sliceEndpoints collects the ready endpoints of a Service port. The slice
// port is the one named like the Service port (the EndpointSlice controller's
// contract); hand-written slices without ports fall back to the numeric
// targetPort. Ready nil counts as ready (the API's "unknown" means ready).
func (t *translator) sliceEndpoints(svcKey string, sp *corev1.ServicePort) []ir.Endpoint {
	seen := map[string]bool{}
	eps := []ir.Endpoint{}
	for _, es := range t.slices[svcKey] {
		if es.AddressType == "FQDN" {
			continue
		}
		var port uint32
		if len(es.Ports) == 0 {
			port = targetPortNumber(sp)
		}
		for _, p := range es.Ports {
			pname := ""
			if p.Name != nil {
				pname = *p.Name
			}
			if pname == sp.Name && p.Port != nil && *p.Port > 0 {
				port = uint32(*p.Port)
				break
			}
		}
		if port == 0 || port > 65535 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if net.ParseIP(a) == nil {
					continue
				}
				k := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[k] {
					seen[k] = true
					eps = append(eps, ir.Endpoint{Address: a, Port: port})
				}
			}
		}
	}
	sortEndpoints(eps)
	return eps
}

func sortEndpoints(eps []ir.Endpoint) {
	sort.SliceStable(eps, func(i, j int) bool {
		if eps[i].Address != eps[j].Address {
			return eps[i].Address < eps[j].Address
		}
		return eps[i].Port < eps[j].Port
	})
}

// serviceEntryCluster builds "serviceentry/<ns>/<name>/<port>" for a route
// in namespace routeNS (the rules are in serviceentry.go).
func (t *translator) serviceEntryCluster(routeNS, ns, name string, port int32, field string) (string, problem) {
	se := t.serviceEntries[key(ns, name)]
	if se == nil || !exportedTo(se, routeNS) {
		return "", problem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: ServiceEntry %s/%s not found (or not exported to namespace %s)", field, ns, name, routeNS)}
	}
	sp := sePort(&se.Spec, port)
	if sp == nil {
		return "", problem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s.port: ServiceEntry %s/%s has no port %d", field, ns, name, port)}
	}
	cname := fmt.Sprintf("serviceentry/%s/%s/%d", ns, name, port)
	if _, ok := t.clusters[cname]; ok {
		return cname, problem{}
	}
	c, p := seClusterFor(se, sp, cname, field)
	if !p.ok() {
		return "", p
	}
	t.clusters[cname] = c
	return cname, problem{}
}

func isUnixAddress(a string) bool { return len(a) >= 7 && a[:7] == "unix://" }

// workloadEndpoints turns ServiceEntry endpoints into IR endpoints. An
// endpoint's ports map (by ServiceEntry port name) overrides the target port.
func workloadEndpoints(wes []*networking.WorkloadEntry, portName string, defaultPort uint32, valid func(string) bool) []ir.Endpoint {
	seen := map[string]bool{}
	eps := []ir.Endpoint{}
	for _, we := range wes {
		if we == nil || !valid(we.Address) {
			continue
		}
		port := defaultPort
		if p, ok := we.Ports[portName]; ok && p != 0 {
			port = p
		}
		k := net.JoinHostPort(we.Address, strconv.Itoa(int(port)))
		if seen[k] {
			continue
		}
		seen[k] = true
		eps = append(eps, ir.Endpoint{Address: we.Address, Port: port, Weight: we.Weight})
	}
	sortEndpoints(eps)
	return eps
}
