package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// tlsAttachment is a TLSRoute attached to a Passthrough listener for one SNI domain.
type tlsAttachment struct {
	route    *gwv1.TLSRoute
	domain   string
	backends []ir.WeightedCluster
}

// tcpAttachment is a TCPRoute attached to a TCP listener.
type tcpAttachment struct {
	route    *gwv1.TCPRoute
	backends []ir.WeightedCluster
}

// streamBackends resolves the backendRefs of every rule of a TLSRoute or
// TCPRoute. These routes have no matching criteria, so the rules' backends
// together form one weighted set. Invalid backends are left out (their
// connections would be refused anyway) and reported in ResolvedRefs.
func (t *translator) streamBackends(info routeInfo, rules [][]gwv1.BackendRef) ([]ir.WeightedCluster, *ruleReport) {
	rep := &ruleReport{rules: len(rules)}
	var out []ir.WeightedCluster
	for i, refs := range rules {
		for j, br := range refs {
			c, p := t.resolveBackend(info.ref(), br.BackendObjectReference, fmt.Sprintf("spec.rules[%d].backendRefs[%d]", i, j))
			if !p.ok() {
				rep.refProblem(p)
				continue
			}
			out = append(out, ir.WeightedCluster{Cluster: c, Weight: weightOf(br.Weight)})
		}
	}
	return out, rep
}

func (t *translator) attachTLSRoutes() {
	for _, r := range t.snap.TLSRoutes {
		if r == nil {
			continue
		}
		info := routeInfo{kind: "TLSRoute", obj: r, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, hasHostnames: true}
		parents := t.attach(info)
		if len(parents) == 0 {
			continue
		}
		rules := make([][]gwv1.BackendRef, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules[i] = r.Spec.Rules[i].BackendRefs
		}
		backends, rep := t.streamBackends(info, rules)
		for _, p := range parents {
			if !p.problem.ok() {
				continue
			}
			for _, a := range p.attachments {
				for _, d := range a.domains {
					a.listener.tls = append(a.listener.tls, &tlsAttachment{route: r, domain: d, backends: backends})
				}
			}
		}
		t.routeStatus(info, parents, rep)
	}
}

func (t *translator) attachTCPRoutes() {
	for _, r := range t.snap.TCPRoutes {
		if r == nil {
			continue
		}
		rules := make([][]gwv1.BackendRef, len(r.Spec.Rules))
		for i := range r.Spec.Rules {
			rules[i] = r.Spec.Rules[i].BackendRefs
		}
		t.attachStreamRoute(routeInfo{kind: "TCPRoute", obj: r, parentRefs: r.Spec.ParentRefs}, rules,
			func(l *listenerCtx, backends []ir.WeightedCluster) {
				l.tcp = append(l.tcp, &tcpAttachment{route: r, backends: backends})
			})
	}
}

// attachStreamRoute attaches a TCPRoute or UDPRoute (rules: each rule's
// backendRefs): every listener it is accepted on gets its backends through
// add, and the route gets its status.
func (t *translator) attachStreamRoute(info routeInfo, rules [][]gwv1.BackendRef, add func(*listenerCtx, []ir.WeightedCluster)) {
	parents := t.attach(info)
	if len(parents) == 0 {
		return
	}
	backends, rep := t.streamBackends(info, rules)
	for _, p := range parents {
		if !p.problem.ok() {
			continue
		}
		for _, a := range p.attachments {
			add(a.listener, backends)
		}
	}
	t.routeStatus(info, parents, rep)
}
