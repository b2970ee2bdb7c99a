package gatewayapi

// mTLS into an Istio mesh (certs/mesh is the identity side).
//
// A Service backend is in the mesh, and gets Istio mTLS instead of plain
// text, when (first rule that decides):
//
//  1. the Service carries security.istio.io/tlsMode (label or annotation):
//     "istio" yes, "disabled" no. Istio puts this label on the Pods and
//     WorkloadEntries of sidecar workloads; on the Service it is the user's
//     switch (edgeway sees Services and EndpointSlices, not Pods);
//  2. its namespace is labelled for sidecar injection: istio-injection=enabled
//     or istio.io/rev=<revision> yes, istio-injection=disabled no;
//  3. otherwise no.
//
// The gateway then sends what an Istio client sidecar sends to a STRICT
// inbound listener: its workload certificate (spec.mesh of the Gateway's
// EdgewayConfig), the SNI outbound_.<port>_._.<name>.<namespace>.svc.<cluster
// domain>, the ALPN istio-http/1.1 or istio-h2 (by the cluster's HTTP
// version) followed by istio, or istio-peer-exchange, istio for TCP/TLS
// routes (Istio's ALPN filter values); it verifies the backend's chain
// against the mesh root (root-cert.pem) and its identity: the service
// accounts of Istio's annotation alpha.istio.io/kubernetes-serviceaccounts
// on the Service (spiffe://<trust domain>/ns/<namespace>/sa/<each>), else any
// service account of the Service's namespace (URI prefix
// spiffe://<trust domain>/ns/<namespace>/sa/).
//
// A ServiceEntry backend is in the mesh by Istio's endpoint label
// (mesh_serviceentry.go) and gets the same mTLS.
//
// A BackendTLSPolicy targeting the Service wins: the user chose the TLS.
// A route to a mesh backend through a Gateway without spec.mesh gets
// ResolvedRefs=False MeshIdentityNotConfigured (the backend is left out: a
// STRICT sidecar would refuse plain text). A Gateway with spec.mesh gets the
// condition gateway.edgeway.dev/MeshIdentityReady; while it is False (bad
// cacerts Secret, certificate not issued yet) its mesh clusters have no
// endpoints (503) rather than connecting without the identity.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/ir"
)

const (
	labelIstioTLSMode   = "security.istio.io/tlsMode"
	labelIstioInjection = "istio-injection"
	labelIstioRevision  = "istio.io/rev"
	// annotationIstioServiceAccounts lists the service accounts a Service's
	// workloads run as (Istio's own annotation, comma-separated names).
	annotationIstioServiceAccounts = "alpha.istio.io/kubernetes-serviceaccounts"

	// ConditionMeshIdentityReady is the Gateway condition of spec.mesh.
	ConditionMeshIdentityReady = "gateway.edgeway.dev/MeshIdentityReady"
	// Reasons of MeshIdentityReady, and of a route's ResolvedRefs=False.
	ReasonMeshIdentityReady         = "Ready"
	ReasonMeshIdentityPending       = "Pending"
	ReasonMeshInvalidParameters     = "InvalidParameters"
	ReasonMeshInvalidCASecret       = "InvalidCASecret"
	ReasonMeshInvalidRootCert       = "InvalidRootCertificate"
	ReasonMeshInvalidTokenSecret    = "InvalidTokenSecret"
	ReasonMeshIdentityNotConfigured = "MeshIdentityNotConfigured"
)

// The ALPN an Istio client sidecar offers a STRICT inbound listener, which
// selects its mTLS filter chain by them.
var (
	meshALPNHTTP11 = []string{"istio-http/1.1", "istio"}
	meshALPNH2     = []string{"istio-h2", "istio"}
	meshALPNTCP    = []string{"istio-peer-exchange", "istio"}
)

// meshGateway is a Gateway's mesh identity as the translation sees it.
type meshGateway struct {
	cfg *mesh.Config
	// root is the IR CA secret of root-cert.pem ("meshroot/<ns>/<name>").
	root string
	// identity is the IR secret of the workload certificate; "" until the
	// Manager has issued it.
	identity, spiffeID string
	source             string  // who signs, for messages
	problem            problem // spec.mesh, its cacerts Secret or its Istio CA settings are unusable
}

func (m *meshGateway) ready() bool { return m != nil && m.problem.ok() && m.identity != "" }

// meshState is what mesh.go computes once per translation.
type meshState struct {
	gateways map[string]*meshGateway // by Gateway key; nil value: no spec.mesh
	// parents are the parentRefs of every route, by "<kind>/<ns>/<name>"
	// (routeGateways; built on first use).
	parents map[string][]gwv1.ParentReference
}

func (t *translator) meshState() *meshState {
	if t.mesh == nil {
		t.mesh = &meshState{gateways: map[string]*meshGateway{}}
	}
	return t.mesh
}

// meshOf is g's mesh identity, nil without spec.mesh.
func (t *translator) meshOf(g *gatewayCtx) *meshGateway {
	st := t.meshState()
	if m, ok := st.gateways[g.key]; ok {
		return m
	}
	m := t.resolveMesh(g)
	st.gateways[g.key] = m
	return m
}

func (t *translator) resolveMesh(g *gatewayCtx) *meshGateway {
	cfg, err := mesh.GatewayConfig(t.snap, g.obj)
	if cfg == nil {
		return nil
	}
	m := &meshGateway{cfg: cfg}
	if err != nil {
		m.problem = problem{ReasonMeshInvalidParameters, err.Error()}
		return m
	}
	if cfg.IstioCA != nil {
		if !t.resolveIstioCA(m) {
			return m
		}
	} else if !t.resolveCASecret(m) {
		return m
	}
	name := mesh.SecretName(g.obj.Name)
	if s := t.secrets[key(g.obj.Namespace, name)]; s != nil {
		if c, err := t.certificate(g.obj.Namespace, name); err == nil {
			m.identity, m.spiffeID = c.Name, s.Annotations[mesh.AnnotationSPIFFEID]
		}
	}
	return m
}

// resolveCASecret reads spec.mesh.caSecretRef: the mesh root for the
// backends, and whether the Manager can sign with it.
func (t *translator) resolveCASecret(m *meshGateway) bool {
	cfg, ref := m.cfg, m.cfg.CASecret
	sec := t.secrets[key(ref.Namespace, ref.Name)]
	if sec == nil {
		m.problem = problem{ReasonMeshInvalidCASecret, fmt.Sprintf("EdgewayConfig %s spec.mesh.caSecretRef: Secret %s not found; create it with the mesh CA (Istio's cacerts: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)", cfg.From, ref)}
		return false
	}
	ca, err := mesh.ParseCACerts(mesh.SecretData(sec))
	if err != nil {
		m.problem = problem{ReasonMeshInvalidCASecret, fmt.Sprintf("EdgewayConfig %s spec.mesh.caSecretRef: Secret %s: %v", cfg.From, ref, err)}
		return false
	}
	m.root = t.meshRootSecret("meshroot/"+ref.Namespace+"/"+ref.Name, ca.RootPEM)
	m.source = "the mesh CA of Secret " + ref.String()
	return true
}

// resolveIstioCA reads spec.mesh.istioCA: the root ConfigMap (trusted for
// the CA and the backends) and the token Secret the Manager authenticates
// with.
func (t *translator) resolveIstioCA(m *meshGateway) bool {
	cfg, ic := m.cfg, m.cfg.IstioCA
	var rootPEM string
	for _, c := range t.snap.ConfigMaps {
		if c != nil && c.Namespace == ic.RootCert.Namespace && c.Name == ic.RootCert.Name {
			rootPEM = c.Data[mesh.RootCertKey]
		}
	}
	if _, err := mesh.ParseCertificates([]byte(rootPEM)); err != nil {
		m.problem = problem{ReasonMeshInvalidRootCert, fmt.Sprintf("EdgewayConfig %s spec.mesh.istioCA.rootCertConfigMapRef: ConfigMap %s needs the mesh root in key %s (Istio publishes it as istio-ca-root-cert in every namespace): %v", cfg.From, ic.RootCert, mesh.RootCertKey, err)}
		return false
	}
	if sec := t.secrets[key(ic.TokenSecret.Namespace, ic.TokenSecret.Name)]; sec == nil || len(mesh.SecretData(sec)[mesh.KeyToken]) == 0 {
		m.problem = problem{ReasonMeshInvalidTokenSecret, fmt.Sprintf("EdgewayConfig %s spec.mesh.istioCA.tokenSecretRef: Secret %s needs key %s with a ServiceAccount token of the Gateway's identity (kubectl create token <service account> --audience istio-ca)", cfg.From, ic.TokenSecret, mesh.KeyToken)}
		return false
	}
	m.root = t.meshRootSecret("meshroot/configmap/"+ic.RootCert.Namespace+"/"+ic.RootCert.Name, []byte(rootPEM))
	m.source = "Istio's CA at " + ic.Address
	return true
}

func (t *translator) meshRootSecret(name string, pemData []byte) string {
	if _, ok := t.certs[name]; !ok {
		t.certs[name] = &ir.Secret{Name: name, TrustedCA: string(pemData)}
	}
	return name
}

// meshConditions is g's MeshIdentityReady condition (none without
// spec.mesh).
func (t *translator) meshConditions(g *gatewayCtx) []metav1.Condition {
	m := t.meshOf(g)
	gen := g.obj.Generation
	switch {
	case m == nil:
		return nil
	case !m.problem.ok():
		return []metav1.Condition{cond(ConditionMeshIdentityReady, false, m.problem.reason, m.problem.message, gen)}
	case m.identity == "":
		return []metav1.Condition{cond(ConditionMeshIdentityReady, false, ReasonMeshIdentityPending,
			fmt.Sprintf("the workload certificate (Secret %s/%s) is being issued by %s", g.obj.Namespace, mesh.SecretName(g.obj.Name), m.source), gen)}
	default:
		return []metav1.Condition{cond(ConditionMeshIdentityReady, true, ReasonMeshIdentityReady,
			fmt.Sprintf("workload certificate %s issued by %s (trust domain %s)", m.spiffeID, m.source, m.cfg.TrustDomain), gen)}
	}
}

// serviceInMesh applies the rule at the top of this file; why says which
// setting decided, for messages.
func (t *translator) serviceInMesh(ns, name string) (in bool, why string) {
	svc := t.services[key(ns, name)]
	if svc == nil {
		return false, ""
	}
	for _, kv := range []map[string]string{svc.Labels, svc.Annotations} {
		switch kv[labelIstioTLSMode] {
		case "istio":
			return true, fmt.Sprintf("Service %s/%s has %s=istio", ns, name, labelIstioTLSMode)
		case "disabled":
			return false, ""
		}
	}
	n := t.namespaces[ns]
	if n == nil {
		return false, ""
	}
	switch n.Labels[labelIstioInjection] {
	case "enabled":
		return true, fmt.Sprintf("namespace %s has %s=enabled", ns, labelIstioInjection)
	case "disabled":
		return false, ""
	}
	if rev, ok := n.Labels[labelIstioRevision]; ok {
		return true, fmt.Sprintf("namespace %s has %s=%s", ns, labelIstioRevision, rev)
	}
	return false, ""
}

// meshBackendProblem refuses a Service in the mesh for a route attached
// to a Gateway of ours without spec.mesh: a STRICT sidecar would refuse
// the plain-text connection, so say what to configure instead. It also
// refuses one whose name, namespace and the Gateway's cluster domain
// together make a TLS server name over 253 characters: each part passed
// its own check, and the cluster would otherwise answer 503 unexplained.
func (t *translator) meshBackendProblem(from objRef, ns, name string, port int32, field string) problem {
	in, why := t.serviceInMesh(ns, name)
	if !in {
		return problem{}
	}
	if g := t.gatewayWithoutMesh(from); g != nil {
		return problem{ReasonMeshIdentityNotConfigured, fmt.Sprintf(
			"%s: Service %s/%s is in the Istio mesh (%s) but Gateway %s has no mesh identity: set spec.mesh.caSecretRef (the mesh's cacerts Secret) in the EdgewayConfig of the Gateway or its GatewayClass, or set %s=disabled on the Service if its sidecar accepts plain text (PERMISSIVE)",
			field, ns, name, why, g.key, labelIstioTLSMode)}
	}
	for _, g := range t.routeGateways(from) {
		m := t.meshOf(g)
		if m == nil || !m.problem.ok() {
			continue // the Gateway's MeshIdentityReady says why
		}
		if sni := serviceMeshSNI(strconv.Itoa(int(port)), name, ns, m.cfg.ClusterDomain); !ir.ValidUpstreamSNI(sni) {
			return problem{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf(
				"%s: Service %s/%s is in the Istio mesh, but the TLS server name its sidecar expects through Gateway %s (cluster domain %q, spec.mesh.clusterDomain) is %d characters, over the 253 a server name may have: shorten the Service's name, its namespace or the cluster domain",
				field, ns, name, g.key, m.cfg.ClusterDomain, len(sni))}
		}
	}
	return problem{}
}

// serviceMeshSNI is the TLS server name Istio's clients send to a Service's
// port: outbound_.<port>_._.<name>.<namespace>.svc.<cluster domain>.
func serviceMeshSNI(port, name, ns, clusterDomain string) string {
	return "outbound_." + port + "_._." + name + "." + ns + ".svc." + clusterDomain
}

// gatewayWithoutMesh is the first Gateway of the route from without
// spec.mesh, nil when all have it.
func (t *translator) gatewayWithoutMesh(from objRef) *gatewayCtx {
	for _, g := range t.routeGateways(from) {
		if t.meshOf(g) == nil {
			return g
		}
	}
	return nil
}

// routeGateways are the Gateways of ours that a route's parentRefs name,
// directly or through a ListenerSet.
func (t *translator) routeGateways(from objRef) []*gatewayCtx {
	st := t.meshState()
	if st.parents == nil {
		st.parents = map[string][]gwv1.ParentReference{}
		add := func(kind, ns, name string, refs []gwv1.ParentReference) {
			st.parents[kind+"/"+ns+"/"+name] = refs
		}
		for _, r := range t.snap.HTTPRoutes {
			if r != nil {
				add("HTTPRoute", r.Namespace, r.Name, r.Spec.ParentRefs)
			}
		}
		for _, r := range t.snap.GRPCRoutes {
			if r != nil {
				add("GRPCRoute", r.Namespace, r.Name, r.Spec.ParentRefs)
			}
		}
		for _, r := range t.snap.TLSRoutes {
			if r != nil {
				add("TLSRoute", r.Namespace, r.Name, r.Spec.ParentRefs)
			}
		}
		for _, r := range t.snap.TCPRoutes {
			if r != nil {
				add("TCPRoute", r.Namespace, r.Name, r.Spec.ParentRefs)
			}
		}
		for _, r := range t.snap.UDPRoutes {
			if r != nil {
				add("UDPRoute", r.Namespace, r.Name, r.Spec.ParentRefs)
			}
		}
	}
	refs := st.parents[from.kind+"/"+from.namespace+"/"+from.name]
	seen := map[string]bool{}
	var out []*gatewayCtx
	for _, p := range refs {
		if p.Group != nil && string(*p.Group) != gatewayGroup {
			continue
		}
		ns := from.namespace
		if p.Namespace != nil && *p.Namespace != "" {
			ns = string(*p.Namespace)
		}
		var g *gatewayCtx
		switch {
		case p.Kind == nil || *p.Kind == "Gateway":
			g = t.byKey[key(ns, string(p.Name))]
		case *p.Kind == "ListenerSet":
			if s := t.setByKey[key(ns, string(p.Name))]; s != nil {
				g = s.gw
			}
		}
		if g != nil && !seen[g.key] {
			seen[g.key] = true
			out = append(out, g)
		}
	}
	return out
}

// applyMeshTLS gives every emitted cluster of a backend in the mesh the
// Istio mTLS of the Gateways using it (see the top of this file). It runs
// after applyBackendTLS: a cluster a BackendTLSPolicy made TLS is left as
// the policy says.
func (t *translator) applyMeshTLS(out *ir.IR, usedSecrets map[string]bool) {
	users := map[string][]string{} // cluster -> Gateway keys
	stream := map[string]bool{}    // clusters of TCP/TLS routes
	for _, l := range out.Listeners {
		used := map[string]bool{}
		markClusters(l, out.RouteTables, used)
		for c := range used {
			users[c] = append(users[c], l.Gateways...)
		}
		markClusters(l, nil, stream)
	}
	http := map[string]bool{}
	for _, rt := range out.RouteTables {
		markRouteClusters(rt, http)
	}
	for _, c := range out.Clusters {
		if c.TLS != nil {
			continue
		}
		target := t.meshTargetOf(c.Name)
		if target == nil {
			continue
		}
		var ready []*gatewayCtx
		for _, g := range t.gateways { // oldest first
			if contains(users[c.Name], g.key) && t.meshOf(g).ready() {
				ready = append(ready, g)
			}
		}
		if len(ready) == 0 {
			// No identity to present: a STRICT sidecar would refuse us.
			c.Discovery, c.Endpoints = ir.DiscoveryEDS, nil
			continue
		}
		first := t.meshOf(ready[0])
		tls := &ir.UpstreamTLS{SNI: target.sni(first.cfg.ClusterDomain)}
		if !ir.ValidUpstreamSNI(tls.SNI) {
			// Too long together (a name near 63 characters in each
			// part): the routes to it were told (meshBackendProblem);
			// this is the backstop, no connection rather than an IR the
			// xDS server would refuse whole.
			c.Discovery, c.Endpoints = ir.DiscoveryEDS, nil
			continue
		}
		switch {
		case !http[c.Name] && stream[c.Name]:
			tls.ALPN = meshALPNTCP
		case c.Protocol == ir.ProtocolHTTP2:
			tls.ALPN = meshALPNH2
		default:
			tls.ALPN = meshALPNHTTP11
		}
		tls.ALPN = append([]string(nil), tls.ALPN...)
		roots, domains := map[string]bool{}, map[string]bool{}
		byGateway := map[string]string{}
		for _, g := range ready {
			m := t.meshOf(g)
			roots[m.root] = true
			domains[m.cfg.TrustDomain] = true
			byGateway[g.key] = m.identity
		}
		tls.CACertificates = t.meshRoots(sortedKeys(roots))
		tls.SubjectAltNames = target.sans(sortedKeys(domains))
		if t.snap.IsolateGateways {
			tls.ClientCertificateByGateway = byGateway
			tls.ClientCertificateRequired = true
		} else {
			tls.ClientCertificate = first.identity
		}
		c.TLS = tls
		usedSecrets[tls.CACertificates] = true
		for _, s := range byGateway {
			usedSecrets[s] = true
		}
	}
}

// meshTarget is what Istio mTLS to one mesh backend's cluster needs from
// the backend: the SNI (by the Gateway's cluster domain) and the identities
// its workloads may present (in each trust domain).
type meshTarget struct {
	sni  func(clusterDomain string) string
	sans func(trustDomains []string) []ir.SubjectAltName
}

// meshTargetOf is the mesh backend of cluster name ("service/..." by the
// rule at the top of this file, "serviceentry/..." by mesh_serviceentry.go);
// nil outside the mesh.
func (t *translator) meshTargetOf(name string) *meshTarget {
	parts := strings.Split(strings.TrimSuffix(name, ir.HTTP2TwinSuffix), "/")
	if len(parts) != 4 {
		return nil
	}
	ns, svc, port := parts[1], parts[2], parts[3]
	switch parts[0] {
	case "service":
		if in, _ := t.serviceInMesh(ns, svc); !in {
			return nil
		}
		return &meshTarget{
			sni:  func(clusterDomain string) string { return serviceMeshSNI(port, svc, ns, clusterDomain) },
			sans: func(domains []string) []ir.SubjectAltName { return t.meshBackendSANs(ns, svc, domains) },
		}
	case "serviceentry":
		return t.serviceEntryMeshTarget(ns, svc, port)
	}
	return nil
}

// meshRoots is the IR CA secret trusting every root of names (one mesh
// root: that secret itself).
func (t *translator) meshRoots(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	name := strings.Join(names, ",")
	if _, ok := t.certs[name]; !ok {
		var b strings.Builder
		for _, n := range names {
			b.WriteString(t.certs[n].TrustedCA)
			if !strings.HasSuffix(t.certs[n].TrustedCA, "\n") {
				b.WriteByte('\n')
			}
		}
		t.certs[name] = &ir.Secret{Name: name, TrustedCA: b.String()}
	}
	return name
}

// meshBackendSANs are the identities a mesh Service's workloads may
// present, in each trust domain.
func (t *translator) meshBackendSANs(ns, name string, domains []string) []ir.SubjectAltName {
	var sas []string
	if svc := t.services[key(ns, name)]; svc != nil {
		for _, sa := range strings.Split(svc.Annotations[annotationIstioServiceAccounts], ",") {
			if sa = strings.TrimSpace(sa); sa != "" {
				sas = append(sas, sa)
			}
		}
	}
	sort.Strings(sas)
	var out []ir.SubjectAltName
	for _, td := range domains {
		if len(sas) == 0 {
			out = append(out, ir.SubjectAltName{Type: ir.SANURIPrefix, Value: "spiffe://" + td + "/ns/" + ns + "/sa/"})
			continue
		}
		for _, sa := range sas {
			out = append(out, ir.SubjectAltName{Type: ir.SANURI, Value: mesh.SPIFFEID(td, ns, sa).String()})
		}
	}
	return out
}
