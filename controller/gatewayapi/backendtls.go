package gatewayapi

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// PolicyStatus is the status of one policy (Kind BackendTLSPolicy): one
// PolicyAncestorStatus per Gateway of ours whose routes use a target of
// the policy (GEP-713: the Gateway is the ancestor), sorted by namespace
// and name.
type PolicyStatus struct {
	Kind      string            `json:"kind" yaml:"kind"`
	Namespace string            `json:"namespace" yaml:"namespace"`
	Name      string            `json:"name" yaml:"name"`
	Status    gwv1.PolicyStatus `json:"status" yaml:"status"`
}

func sortPolicies(ps []PolicyStatus) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

// resolveBackendClientCert resolves Gateway spec.tls.backend
// clientCertificateRef: a kubernetes.io/tls Secret the data plane presents
// to backends that a BackendTLSPolicy makes TLS.
func (t *translator) resolveBackendClientCert(g *gatewayCtx) {
	gw := g.obj
	if gw.Spec.TLS == nil || gw.Spec.TLS.Backend == nil || gw.Spec.TLS.Backend.ClientCertificateRef == nil {
		return
	}
	ref := gw.Spec.TLS.Backend.ClientCertificateRef
	const field = "spec.tls.backend.clientCertificateRef"
	group, kind, ns := secretRefParts(*ref, gw.Namespace)
	if !t.refAllowed(objRef{gatewayGroup, "Gateway", gw.Namespace, gw.Name}, objRef{group, kind, ns, string(ref.Name)}) {
		g.backendClientProblem = problem{string(gwv1.GatewayReasonRefNotPermitted), fmt.Sprintf("%s: %s %s/%s is in another namespace and no ReferenceGrant in %s allows Gateways from %s to reference it", field, kind, ns, ref.Name, ns, gw.Namespace)}
		return
	}
	if group != "" || kind != "Secret" {
		g.backendClientProblem = problem{string(gwv1.GatewayReasonInvalidClientCertificateRef), fmt.Sprintf("%s: %s/%s is not supported; reference a core Secret", field, group, kind)}
		return
	}
	s, err := t.certificate(ns, string(ref.Name))
	if err != nil {
		g.backendClientProblem = problem{string(gwv1.GatewayReasonInvalidClientCertificateRef), fmt.Sprintf("%s: %v", field, err)}
		return
	}
	g.backendClientCert = s.Name
}

// gatewayTLSConditions are the Gateway conditions of spec.tls: ResolvedRefs
// when spec.tls.backend sets a client certificate, and
// InsecureFrontendValidationMode.
func gatewayTLSConditions(g *gatewayCtx) []metav1.Condition {
	var out []metav1.Condition
	gen := g.obj.Generation
	if tls := g.obj.Spec.TLS; tls != nil && tls.Backend != nil && tls.Backend.ClientCertificateRef != nil {
		if g.backendClientProblem.ok() {
			out = append(out, cond(gwv1.GatewayConditionResolvedRefs, true, gwv1.GatewayReasonResolvedRefs, "All references are resolved", gen))
		} else {
			out = append(out, cond(gwv1.GatewayConditionResolvedRefs, false, g.backendClientProblem.reason, g.backendClientProblem.message, gen))
		}
	}
	return append(out, insecureFrontendCondition(g)...)
}

// backendPolicy is one BackendTLSPolicy during translation.
type backendPolicy struct {
	obj      *gwv1.BackendTLSPolicy
	accepted problem // Accepted=False
	refs     problem // ResolvedRefs=False
	// tls is the upstream TLS without the client certificate; nil when no
	// CA certificate is valid (connections then fail: see applyBackendTLS).
	tls       *ir.UpstreamTLS
	ancestors map[string]bool // Gateway keys
}

// resolveBackendPolicy validates a policy's validation block into
// upstream TLS settings.
func (t *translator) resolveBackendPolicy(p *gwv1.BackendTLSPolicy) *backendPolicy {
	bp := &backendPolicy{obj: p, ancestors: map[string]bool{}}
	v := &p.Spec.Validation
	if why := unservableHostname(string(v.Hostname)); why != "" {
		bp.accepted = problem{string(gwv1.PolicyReasonInvalid), "spec.validation.hostname: " + why}
		return bp
	}
	tls := &ir.UpstreamTLS{SNI: strings.ToLower(string(v.Hostname))}
	for _, san := range v.SubjectAltNames {
		switch san.Type {
		case gwv1.HostnameSubjectAltNameType:
			tls.SubjectAltNames = append(tls.SubjectAltNames, ir.SubjectAltName{Type: ir.SANDNS, Value: strings.ToLower(string(san.Hostname))})
		case gwv1.URISubjectAltNameType:
			tls.SubjectAltNames = append(tls.SubjectAltNames, ir.SubjectAltName{Type: ir.SANURI, Value: string(san.URI)})
		}
	}
	if len(tls.SubjectAltNames) == 0 {
		// Without subjectAltNames the hostname authenticates the backend.
		tls.SubjectAltNames = []ir.SubjectAltName{{Type: ir.SANDNS, Value: tls.SNI}}
	}
	switch {
	case v.WellKnownCACertificates != nil && *v.WellKnownCACertificates != "":
		if *v.WellKnownCACertificates != gwv1.WellKnownCACertificatesSystem {
			bp.accepted = problem{string(gwv1.PolicyReasonInvalid), fmt.Sprintf("spec.validation.wellKnownCACertificates: %q is not supported; use System or caCertificateRefs", *v.WellKnownCACertificates)}
			return bp
		}
		tls.SystemCAs = true
	default:
		var refs []caRef
		var bundles []string
		for i, r := range v.CACertificateRefs {
			field := fmt.Sprintf("spec.validation.caCertificateRefs[%d]", i)
			ref := caRef{group: coreGroup(string(r.Group)), kind: string(r.Kind), namespace: p.Namespace, name: string(r.Name)}
			data, err := t.caBundle(ref, false)
			var pr problem
			switch {
			case errors.Is(err, errCAKind):
				pr = problem{string(gwv1.BackendTLSPolicyReasonInvalidKind), fmt.Sprintf("%s: %v", field, err)}
			case err != nil:
				pr = problem{string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), fmt.Sprintf("%s: %v", field, err)}
			default:
				refs = append(refs, ref)
				bundles = append(bundles, data)
			}
			if !pr.ok() && bp.refs.ok() {
				bp.refs = pr
			}
		}
		if len(refs) == 0 {
			bp.accepted = problem{string(gwv1.BackendTLSPolicyReasonNoValidCACertificate), "spec.validation.caCertificateRefs: no valid CA certificate; connections to the targeted backends fail (503) until one is fixed: " + bp.refs.message}
			return bp
		}
		tls.CACertificates = t.caSecret(refs, bundles).Name
	}
	bp.tls = tls
	return bp
}

// policyTarget is what a cluster is, for matching targetRefs.
type policyTarget struct {
	group, kind, namespace, name, sectionName string
}

// clusterTarget maps an IR cluster name back to its backend object and the
// name of its port (targetRefs sectionName).
func (t *translator) clusterTarget(cluster string) (policyTarget, bool) {
	parts := strings.Split(strings.TrimSuffix(cluster, ir.HTTP2TwinSuffix), "/")
	// An egress gateway's per-host ServiceEntry clusters have a fifth part,
	// the host (egress.go): the policy of the entry applies to each.
	if len(parts) == 5 && parts[0] == "serviceentry" {
		parts = parts[:4]
	}
	if len(parts) != 4 {
		return policyTarget{}, false
	}
	pt := policyTarget{namespace: parts[1], name: parts[2]}
	switch parts[0] {
	case "service":
		pt.kind = "Service"
		if svc := t.services[key(parts[1], parts[2])]; svc != nil {
			for _, sp := range svc.Spec.Ports {
				if fmt.Sprint(sp.Port) == parts[3] {
					pt.sectionName = sp.Name
				}
			}
		}
	case "serviceentry":
		pt.group, pt.kind = istioGroup, "ServiceEntry"
		if se := t.serviceEntries[key(parts[1], parts[2])]; se != nil {
			for _, sp := range se.Spec.Ports {
				if sp != nil && fmt.Sprint(sp.Number) == parts[3] {
					pt.sectionName = sp.Name
				}
			}
		}
	default:
		return policyTarget{}, false
	}
	return pt, true
}

// targets reports whether a targetRef of p selects pt, and whether by
// sectionName (more specific than the whole object).
func policyTargets(p *gwv1.BackendTLSPolicy, pt policyTarget) (match, bySection bool) {
	if p.Namespace != pt.namespace {
		return false, false
	}
	for _, tr := range p.Spec.TargetRefs {
		if coreGroup(string(tr.Group)) != pt.group || string(tr.Kind) != pt.kind || string(tr.Name) != pt.name {
			continue
		}
		switch {
		case tr.SectionName == nil || *tr.SectionName == "":
			match = true
		case string(*tr.SectionName) == pt.sectionName && pt.sectionName != "":
			return true, true
		}
	}
	return match, false
}

// markPolicyConflicts sets Accepted=False Conflicted on every policy that
// selects a (target, sectionName) an older policy already selects.
func markPolicyConflicts(ps []*backendPolicy) {
	type sel struct{ group, kind, name, ns, section string }
	owner := map[sel]*backendPolicy{}
	sorted := append([]*backendPolicy(nil), ps...)
	sort.SliceStable(sorted, func(i, j int) bool { return olderFirst(sorted[i].obj, sorted[j].obj) })
	for _, bp := range sorted {
		for _, tr := range bp.obj.Spec.TargetRefs {
			s := sel{coreGroup(string(tr.Group)), string(tr.Kind), string(tr.Name), bp.obj.Namespace, ""}
			if tr.SectionName != nil {
				s.section = string(*tr.SectionName)
			}
			if o := owner[s]; o != nil && o != bp {
				if bp.accepted.ok() {
					bp.accepted = problem{string(gwv1.PolicyReasonConflicted), fmt.Sprintf("spec.targetRefs: BackendTLSPolicy %s/%s is older and already selects %s %s%s", o.obj.Namespace, o.obj.Name, s.kind, s.name, sectionText(s.section))}
				}
				continue
			}
			owner[s] = bp
		}
	}
}

func sectionText(s string) string {
	if s == "" {
		return ""
	}
	return " port " + s
}

// applyBackendTLS gives every emitted cluster targeted by a BackendTLSPolicy
// its upstream TLS, and writes the policies' statuses. The client
// certificate is the one of the oldest Gateway using the cluster that sets
// spec.tls.backend.clientCertificateRef (clusters are shared by the
// Gateways of one data plane), or one per Gateway with IsolateGateways. A policy without any valid CA certificate
// must make connections fail: the cluster loses its endpoints (503) rather
// than connecting without verification.
func (t *translator) applyBackendTLS(out *ir.IR, usedSecrets map[string]bool) {
	if len(t.snap.BackendTLSPolicies) == 0 {
		return
	}
	var policies []*backendPolicy
	for _, p := range t.snap.BackendTLSPolicies {
		if p != nil {
			policies = append(policies, t.resolveBackendPolicy(p))
		}
	}
	markPolicyConflicts(policies)

	users := map[string][]string{} // cluster -> Gateway keys
	for _, l := range out.Listeners {
		used := map[string]bool{}
		markClusters(l, out.RouteTables, used)
		for c := range used {
			users[c] = append(users[c], l.Gateways...)
		}
	}
	for _, c := range out.Clusters {
		pt, ok := t.clusterTarget(c.Name)
		if !ok {
			continue
		}
		var best *backendPolicy
		bestSection := false
		for _, bp := range policies {
			match, bySection := policyTargets(bp.obj, pt)
			if !match {
				continue
			}
			// Every policy selecting a used target reports to its Gateways,
			// the conflicted ones included (Accepted=False Conflicted).
			for _, g := range users[c.Name] {
				bp.ancestors[g] = true
			}
			if bp.accepted.reason == string(gwv1.PolicyReasonConflicted) {
				continue
			}
			if best == nil || (bySection && !bestSection) || (bySection == bestSection && olderFirst(bp.obj, best.obj)) {
				best, bestSection = bp, bySection
			}
		}
		if best == nil {
			continue
		}
		if best.tls == nil {
			// Fail closed: a backend a policy says needs TLS never gets
			// plain text, whatever made the policy unusable (503).
			c.Discovery, c.Endpoints = ir.DiscoveryEDS, nil
			continue
		}
		tls := *best.tls
		tls.SubjectAltNames = append([]ir.SubjectAltName(nil), best.tls.SubjectAltNames...)
		tls.ClientCertificate, tls.ClientCertificateByGateway = t.clientCertificates(users[c.Name])
		c.TLS = &tls
		if tls.CACertificates != "" {
			usedSecrets[tls.CACertificates] = true
		}
		if tls.ClientCertificate != "" {
			usedSecrets[tls.ClientCertificate] = true
		}
		for _, sec := range tls.ClientCertificateByGateway {
			usedSecrets[sec] = true
		}
	}
	for _, bp := range policies {
		t.policyStatus(bp)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// policyStatus renders one PolicyAncestorStatus per Gateway using a target.
func (t *translator) policyStatus(bp *backendPolicy) {
	if len(bp.ancestors) == 0 {
		return
	}
	gen := bp.obj.Generation
	st := gwv1.PolicyStatus{Ancestors: []gwv1.PolicyAncestorStatus{}}
	for _, gk := range sortedKeys(bp.ancestors) {
		g := t.byKey[gk]
		if g == nil {
			continue
		}
		group := gwv1.Group(gatewayGroup)
		kind := gwv1.Kind("Gateway")
		ns := gwv1.Namespace(g.obj.Namespace)
		as := gwv1.PolicyAncestorStatus{
			AncestorRef:    gwv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: gwv1.ObjectName(g.obj.Name)},
			ControllerName: gwv1.GatewayController(t.controllerName),
		}
		if bp.accepted.ok() {
			as.Conditions = append(as.Conditions, cond(gwv1.PolicyConditionAccepted, true, gwv1.PolicyReasonAccepted, "Policy is accepted", gen))
		} else {
			as.Conditions = append(as.Conditions, cond(gwv1.PolicyConditionAccepted, false, bp.accepted.reason, bp.accepted.message, gen))
		}
		if bp.refs.ok() {
			as.Conditions = append(as.Conditions, cond(gwv1.BackendTLSPolicyConditionResolvedRefs, true, gwv1.BackendTLSPolicyReasonResolvedRefs, "All references are resolved", gen))
		} else {
			as.Conditions = append(as.Conditions, cond(gwv1.BackendTLSPolicyConditionResolvedRefs, false, bp.refs.reason, bp.refs.message, gen))
		}
		st.Ancestors = append(st.Ancestors, as)
	}
	t.statuses.Policies = append(t.statuses.Policies, PolicyStatus{Kind: "BackendTLSPolicy", Namespace: bp.obj.Namespace, Name: bp.obj.Name, Status: st})
}
