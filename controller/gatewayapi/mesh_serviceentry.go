package gatewayapi

// ServiceEntry backends in the Istio mesh (the Service rule is in mesh.go).
//
// Istio reaches a ServiceEntry endpoint (a WorkloadEntry) with its mTLS
// when the endpoint is labelled security.istio.io/tlsMode=istio and the
// entry has location MESH_INTERNAL (a MESH_EXTERNAL entry never gets auto
// mTLS); the endpoint's serviceAccount is its identity,
// spiffe://<trust domain>/ns/<ServiceEntry namespace>/sa/<serviceAccount>.
// Istio decides per endpoint (one transport socket match each); edgeway has
// one TLS setting per cluster, so:
//
//   - a MESH_INTERNAL entry whose endpoints are all labelled is in the mesh:
//     its clusters get the mTLS of mesh.go, with the SNI Istio's clients send
//     for the entry's host, outbound_.<port>_._.<first exact host>, and the
//     identities of the endpoints' serviceAccounts, plus the entry's
//     spec.subjectAltNames (as Istio adds them); when an endpoint has no
//     serviceAccount, any service account of the entry's namespace;
//   - a MESH_INTERNAL entry with labelled and unlabelled endpoints is
//     refused (ResolvedRefs=False, UnsupportedValue): half of it would fail
//     whichever way it is sent; split it in two entries, or label all;
//   - otherwise (no endpoints, no label, MESH_EXTERNAL) it is outside the
//     mesh, as before.
//
// A route to a mesh entry through a Gateway without spec.mesh gets
// ResolvedRefs=False MeshIdentityNotConfigured, as for a Service.

import (
	"fmt"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/ir"
)

// serviceEntryMesh is how the rule above classifies an entry.
type serviceEntryMesh int

const (
	seOutsideMesh serviceEntryMesh = iota
	seInMesh
	seMixed // MESH_INTERNAL with labelled and unlabelled endpoints
)

// serviceEntryInMesh applies the rule at the top of this file; labelled and
// total count the endpoints, for messages.
func serviceEntryInMesh(se *istionet.ServiceEntry) (m serviceEntryMesh, labelled, total int) {
	if se == nil || se.Spec.Location != networking.ServiceEntry_MESH_INTERNAL {
		return seOutsideMesh, 0, 0
	}
	for _, we := range se.Spec.Endpoints {
		if we == nil {
			continue
		}
		total++
		if we.Labels[labelIstioTLSMode] == "istio" {
			labelled++
		}
	}
	switch {
	case labelled == 0:
		return seOutsideMesh, labelled, total
	case labelled < total:
		return seMixed, labelled, total
	}
	return seInMesh, labelled, total
}

// serviceEntryMeshProblem refuses, for the route from, a mixed entry and a
// mesh entry behind a Gateway without spec.mesh. An entry the route cannot
// see is left to serviceEntryCluster to report.
func (t *translator) serviceEntryMeshProblem(from objRef, ns, name, field string) problem {
	se := t.serviceEntries[key(ns, name)]
	if se == nil || !exportedTo(se, from.namespace) {
		return problem{}
	}
	m, labelled, total := serviceEntryInMesh(se)
	switch m {
	case seMixed:
		return problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf(
			"%s: ServiceEntry %s/%s (location MESH_INTERNAL) has %d of its %d endpoints labelled %s=istio: edgeway sends one TLS setting to all endpoints of a backend (mesh mTLS or plain text), so the others would fail; label every endpoint, or put the mesh workloads and the others in two ServiceEntries",
			field, ns, name, labelled, total, labelIstioTLSMode)}
	case seInMesh:
		// Istio's SNI names the port too: the longest one is the check.
		if h := serviceEntrySNIHost(se.Spec.Hosts); !ir.ValidUpstreamSNI("outbound_.65535_._." + h) {
			return problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf(
				"%s: ServiceEntry %s/%s: spec.hosts: %q cannot name the backend in Istio's TLS server name (outbound_.<port>_._.<host>): it must be a host name of 1-63 character labels, at most 234 characters",
				field, ns, name, h)}
		}
		if g := t.gatewayWithoutMesh(from); g != nil {
			return problem{ReasonMeshIdentityNotConfigured, fmt.Sprintf(
				"%s: ServiceEntry %s/%s is in the Istio mesh (location MESH_INTERNAL, endpoints labelled %s=istio) but Gateway %s has no mesh identity: set spec.mesh.caSecretRef (the mesh's cacerts Secret) in the EdgewayConfig of the Gateway or its GatewayClass, or remove the label from the endpoints if their sidecars accept plain text (PERMISSIVE)",
				field, ns, name, labelIstioTLSMode, g.key)}
		}
	}
	return problem{}
}

// serviceEntryMeshTarget is the SNI and identities of a mesh entry's
// cluster "serviceentry/<ns>/<name>/<port>"; nil outside the mesh.
func (t *translator) serviceEntryMeshTarget(ns, name, port string) *meshTarget {
	se := t.serviceEntries[key(ns, name)]
	if m, _, _ := serviceEntryInMesh(se); m != seInMesh {
		return nil
	}
	sni := "outbound_." + port + "_._." + serviceEntrySNIHost(se.Spec.Hosts)
	return &meshTarget{
		sni:  func(string) string { return sni },
		sans: func(domains []string) []ir.SubjectAltName { return serviceEntrySANs(se, domains) },
	}
}

// serviceEntrySNIHost is the host of the outbound_ SNI: Istio builds one
// cluster per host, edgeway one per entry port, so the first exact host
// (the first host when all are wildcards); a fully qualified host's
// trailing dot is not part of a server name (RFC 6066).
func serviceEntrySNIHost(hosts []string) string {
	for _, h := range hosts {
		if h != "" && !isWildcard(h) && h != anyHost {
			return strings.TrimSuffix(strings.ToLower(h), ".")
		}
	}
	if len(hosts) > 0 {
		return strings.TrimSuffix(strings.ToLower(hosts[0]), ".")
	}
	return ""
}

// serviceEntrySANs are the identities a mesh entry's endpoints may present,
// in each trust domain, and the entry's spec.subjectAltNames.
func serviceEntrySANs(se *istionet.ServiceEntry, domains []string) []ir.SubjectAltName {
	sas, anyAccount := map[string]bool{}, false
	for _, we := range se.Spec.Endpoints {
		if we == nil {
			continue
		}
		if we.ServiceAccount == "" {
			anyAccount = true
		} else {
			sas[we.ServiceAccount] = true
		}
	}
	var out []ir.SubjectAltName
	for _, td := range domains {
		if anyAccount {
			out = append(out, ir.SubjectAltName{Type: ir.SANURIPrefix, Value: "spiffe://" + td + "/ns/" + se.Namespace + "/sa/"})
			continue
		}
		for _, sa := range sortedKeys(sas) {
			out = append(out, ir.SubjectAltName{Type: ir.SANURI, Value: mesh.SPIFFEID(td, se.Namespace, sa).String()})
		}
	}
	extra := append([]string(nil), se.Spec.SubjectAltNames...)
	sort.Strings(extra)
	for _, s := range extra {
		switch {
		case s == "":
		case strings.Contains(s, "://"):
			out = append(out, ir.SubjectAltName{Type: ir.SANURI, Value: s})
		default:
			out = append(out, ir.SubjectAltName{Type: ir.SANDNS, Value: s})
		}
	}
	return out
}
