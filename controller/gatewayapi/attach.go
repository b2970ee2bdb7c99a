package gatewayapi

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeInfo is what attachment needs to know about a route of any kind.
type routeInfo struct {
	kind       string // HTTPRoute, TLSRoute, TCPRoute
	obj        metav1.Object
	parentRefs []gwv1.ParentReference
	// hostnames is nil for kinds without hostnames (TCPRoute).
	hostnames    []gwv1.Hostname
	hasHostnames bool
}

func (r routeInfo) key() string { return r.kind + "/" + r.obj.GetNamespace() + "/" + r.obj.GetName() }

func (r routeInfo) ref() objRef {
	return objRef{gatewayGroup, r.kind, r.obj.GetNamespace(), r.obj.GetName()}
}

// attachment is one listener a parentRef attached to, with the domains the
// route serves there (hostname intersection; [anyHost] for TCPRoute).
type attachment struct {
	listener *listenerCtx
	domains  []string
}

// parentResult is the outcome of one parentRef that points at our Gateway.
type parentResult struct {
	ref         gwv1.ParentReference
	problem     problem // Accepted=False reason if nothing attached
	attachments []attachment
}

// attach resolves a route's parentRefs against our Gateways. ParentRefs to
// other controllers' Gateways (or to kinds other than Gateway) are not ours
// and get no status. Every attachment counts in the listener's
// attachedRoutes, whatever the listener's or the route's own validity (spec).
func (t *translator) attach(r routeInfo) []parentResult {
	var out []parentResult
	// A hostname that cannot be served makes the route's parents not
	// accept it (it still counts as attached, as an invalid route does).
	var badHostname problem
	for i, h := range r.hostnames {
		if why := unservableHostname(string(h)); why != "" {
			badHostname = unsupportedValue("spec.hostnames["+strconv.Itoa(i)+"]", "%s", why)
			break
		}
	}
	for i, pr := range r.parentRefs {
		group, kind := gatewayGroup, "Gateway"
		if pr.Group != nil {
			group = string(*pr.Group)
		}
		if pr.Kind != nil {
			kind = string(*pr.Kind)
		}
		if group != gatewayGroup || (kind != "Gateway" && kind != "ListenerSet") {
			continue
		}
		ns := r.obj.GetNamespace()
		if pr.Namespace != nil && *pr.Namespace != "" {
			ns = string(*pr.Namespace)
		}
		// A parentRef to the Gateway reaches its own listeners only; one to
		// a ListenerSet reaches that set's (listenerset.go).
		var listeners []*listenerCtx
		var setProblem problem
		switch kind {
		case "Gateway":
			g := t.byKey[key(ns, string(pr.Name))]
			if g == nil {
				continue
			}
			listeners = g.own()
		case "ListenerSet":
			s := t.setByKey[key(ns, string(pr.Name))]
			if s == nil {
				continue // not attached to a Gateway of ours
			}
			listeners = s.listeners
			if !s.problem.ok() {
				setProblem = problem{string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("spec.parentRefs[%d]: ListenerSet %s is not attached to Gateway %s: %s", i, s.key, s.gw.key, s.problem.message)}
			}
		}
		res := parentResult{ref: pr}
		candidates, allowed := 0, 0
		for _, l := range listeners {
			if pr.SectionName != nil && *pr.SectionName != "" && *pr.SectionName != l.spec.Name {
				continue
			}
			if pr.Port != nil && *pr.Port != l.spec.Port {
				continue
			}
			candidates++
			if !l.allowsKind(r.kind) || !t.namespaceAllowed(l, r.obj.GetNamespace()) {
				continue
			}
			allowed++
			domains := []string{anyHost}
			if r.hasHostnames {
				domains = effectiveHostnames(l.hostname, r.hostnames)
				if len(domains) == 0 {
					continue
				}
			}
			l.attached[r.key()] = true
			res.attachments = append(res.attachments, attachment{listener: l, domains: domains})
		}
		switch {
		case !setProblem.ok():
			res.problem = setProblem
		case candidates == 0:
			res.problem = problem{string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("spec.parentRefs[%d]: %s %s/%s has no listener%s", i, kind, ns, pr.Name, selectorText(pr))}
		case allowed == 0:
			res.problem = problem{string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("spec.parentRefs[%d]: no listener of %s %s/%s%s allows %s from namespace %s", i, kind, ns, pr.Name, selectorText(pr), r.kind, r.obj.GetNamespace())}
		case len(res.attachments) == 0:
			res.problem = problem{string(gwv1.RouteReasonNoMatchingListenerHostname), fmt.Sprintf("spec.hostnames: no hostname intersects with the hostnames of the listeners of %s %s/%s%s", kind, ns, pr.Name, selectorText(pr))}
		case !badHostname.ok():
			res.problem = badHostname
		}
		out = append(out, res)
	}
	return out
}

func selectorText(pr gwv1.ParentReference) string {
	var parts []string
	if pr.SectionName != nil && *pr.SectionName != "" {
		parts = append(parts, fmt.Sprintf("named %q", *pr.SectionName))
	}
	if pr.Port != nil {
		parts = append(parts, fmt.Sprintf("on port %d", *pr.Port))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// namespaceAllowed applies allowedRoutes.namespaces (default Same). Selector
// matches the Namespace object's labels; kubernetes.io/metadata.name is always
// present, as the API server guarantees.
func (t *translator) namespaceAllowed(l *listenerCtx, routeNS string) bool {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		sel = ar.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return routeNS == l.owner().namespace
	case gwv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		set := labels.Set{corev1.LabelMetadataName: routeNS}
		if ns := t.namespaces[routeNS]; ns != nil {
			for k, v := range ns.Labels {
				set[k] = v
			}
		}
		return s.Matches(set)
	}
	return false
}

// ruleReport summarises a route's rules for its status: the first backend
// problem (ResolvedRefs) and the rules dropped as invalid.
type ruleReport struct {
	refs    problem
	dropped []problem // one per dropped rule
	rules   int       // total number of rules
}

func (rr *ruleReport) refProblem(p problem) {
	if rr.refs.ok() {
		rr.refs = p
	}
}

// routeStatus renders the parent statuses of one route. A route whose every
// rule is dropped is not Accepted; with some rules dropped it is Accepted and
// PartiallyInvalid (the spec's "Dropped Rule" approach).
func (t *translator) routeStatus(r routeInfo, parents []parentResult, rep *ruleReport) {
	if len(parents) == 0 {
		return
	}
	t.statuses.Routes = append(t.statuses.Routes, t.renderRouteStatus(r, parents, rep))
}

// renderRouteStatus is the status routeStatus reports for parents (at
// least one).
func (t *translator) renderRouteStatus(r routeInfo, parents []parentResult, rep *ruleReport) RouteStatus {
	gen := r.obj.GetGeneration()
	st := gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{}}
	allDropped := rep.rules > 0 && len(rep.dropped) == rep.rules
	for _, p := range parents {
		ps := gwv1.RouteParentStatus{ParentRef: p.ref, ControllerName: gwv1.GatewayController(t.controllerName)}
		switch {
		case !p.problem.ok():
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionAccepted, false, p.problem.reason, p.problem.message, gen))
		case allDropped:
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionAccepted, false, rep.dropped[0].reason, "all rules are invalid: "+joinMessages(rep.dropped), gen))
		default:
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionAccepted, true, gwv1.RouteReasonAccepted, "Route is accepted", gen))
		}
		if rep.refs.ok() {
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionResolvedRefs, true, gwv1.RouteReasonResolvedRefs, "All references are resolved", gen))
		} else {
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionResolvedRefs, false, rep.refs.reason, rep.refs.message, gen))
		}
		if len(rep.dropped) > 0 && !allDropped {
			ps.Conditions = append(ps.Conditions, cond(gwv1.RouteConditionPartiallyInvalid, true, rep.dropped[0].reason, "Dropped Rule(s): "+joinMessages(rep.dropped), gen))
		}
		st.Parents = append(st.Parents, ps)
	}
	return RouteStatus{Kind: r.kind, Namespace: r.obj.GetNamespace(), Name: r.obj.GetName(), Status: st}
}

func joinMessages(ps []problem) string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.message
	}
	return strings.Join(msgs, "; ")
}
