package gatewayapi

import (
	"fmt"
	"sort"
)

// Cross serving (GRPCRoute spec.hostnames, Gateway API v1.6): "If a Route
// (A) of type HTTPRoute or GRPCRoute is attached to a Listener and that
// listener already has another Route (B) of the other type attached and the
// intersection of the hostnames of A and B is non-empty, then the
// implementation MUST accept exactly one of these two routes, determined by
// [the oldest Route by creation timestamp, then {namespace}/{name}
// alphabetically]. The rejected Route MUST raise an 'Accepted' condition
// with a status of 'False' in the corresponding RouteParentStatus."
//
// The spec names no reason; edgeway uses HostnameConflict (the listener
// reason for the same kind of clash), with a message naming the other route.
// The decision is per listener: a route rejected on one listener still
// serves on the other listeners its parentRef attaches to, and its parentRef
// is Accepted=False only when it lost on every one of them. A rejected
// route still counts in attachedRoutes (attachment is allowedRoutes and
// parentRefs only).

// RouteReasonHostnameConflict rejects the younger of an HTTPRoute and a
// GRPCRoute that share hostnames on a listener.
const RouteReasonHostnameConflict = "HostnameConflict"

// crossServingEntry is one route attached to a listener with its domains.
type crossServingEntry struct {
	info    routeInfo
	domains []string
}

// resolveCrossServing decides, before HTTPRoutes and GRPCRoutes are
// attached, which of them lose a listener to a route of the other kind:
// t.crossLosers[listener][route key] is the winner's description.
func (t *translator) resolveCrossServing() {
	t.crossLosers = map[*listenerCtx]map[string]string{}
	// Only an HTTPRoute and a GRPCRoute conflict: without both kinds there
	// is nothing to decide, and the pass below (a second attachment of
	// every route, a sixth of a translation at 5000 HTTPRoutes) is skipped.
	if !anyRoute(t.snap.HTTPRoutes) || !anyRoute(t.snap.GRPCRoutes) {
		return
	}
	t.crossAttached = true
	per := map[*listenerCtx][]crossServingEntry{}
	var order []*listenerCtx
	add := func(info routeInfo) {
		for _, p := range t.attach(info) {
			if !p.problem.ok() {
				continue
			}
			for _, a := range p.attachments {
				if per[a.listener] == nil {
					order = append(order, a.listener)
				}
				per[a.listener] = append(per[a.listener], crossServingEntry{info, a.domains})
			}
		}
	}
	for _, r := range t.snap.HTTPRoutes {
		if r != nil {
			add(routeInfo{kind: "HTTPRoute", obj: r, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, hasHostnames: true})
		}
	}
	for _, r := range t.snap.GRPCRoutes {
		if r != nil {
			add(routeInfo{kind: "GRPCRoute", obj: r, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, hasHostnames: true})
		}
	}
	for _, l := range order {
		es := per[l]
		sort.SliceStable(es, func(i, j int) bool { return olderFirst(es[i].info.obj, es[j].info.obj) })
		// Kept entries by route kind: only routes of different kinds
		// conflict, and most listeners carry one kind only, so comparing
		// against the other kinds' entries keeps this linear there.
		kept := map[string][]crossServingEntry{}
		for _, e := range es {
			if w := crossConflictAcross(kept, e); w != nil {
				if t.crossLosers[l] == nil {
					t.crossLosers[l] = map[string]string{}
				}
				t.crossLosers[l][e.info.key()] = fmt.Sprintf("%s %s/%s", w.info.kind, w.info.obj.GetNamespace(), w.info.obj.GetName())
				continue
			}
			kept[e.info.kind] = append(kept[e.info.kind], e)
		}
	}
}

// anyRoute reports whether routes holds a route (entries may be nil).
func anyRoute[T any](routes []*T) bool {
	for _, r := range routes {
		if r != nil {
			return true
		}
	}
	return false
}

// crossConflict returns the accepted route of the other kind whose domains
// intersect e's, if any.
func crossConflict(kept []crossServingEntry, e crossServingEntry) *crossServingEntry {
	for i := range kept {
		if kept[i].info.kind == e.info.kind {
			continue
		}
		for _, a := range kept[i].domains {
			for _, b := range e.domains {
				if covers(a, b) || covers(b, a) {
					return &kept[i]
				}
			}
		}
	}
	return nil
}

// crossConflictAcross is crossConflict against the kept entries of the
// other route kinds (by kind), in a fixed kind order.
func crossConflictAcross(kept map[string][]crossServingEntry, e crossServingEntry) *crossServingEntry {
	for _, kind := range []string{"GRPCRoute", "HTTPRoute"} {
		if kind == e.info.kind {
			continue
		}
		if w := crossConflict(kept[kind], e); w != nil {
			return w
		}
	}
	return nil
}

// dropCrossServing removes the listeners a route lost to cross serving from
// its parent results; a parentRef left without any listener is
// Accepted=False with HostnameConflict.
func (t *translator) dropCrossServing(info routeInfo, parents []parentResult) {
	if len(t.crossLosers) == 0 {
		return
	}
	for i := range parents {
		p := &parents[i]
		if !p.problem.ok() || len(p.attachments) == 0 {
			continue
		}
		var kept []attachment
		var lost []string
		for _, a := range p.attachments {
			if w, ok := t.crossLosers[a.listener][info.key()]; ok {
				lost = append(lost, fmt.Sprintf("%s (%s shares its hostnames and is older or first by namespace/name)", a.listener.describe(), w))
				continue
			}
			kept = append(kept, a)
		}
		p.attachments = kept
		if len(kept) == 0 {
			p.problem = problem{RouteReasonHostnameConflict,
				fmt.Sprintf("spec.hostnames: an HTTPRoute and a GRPCRoute may not share hostnames on a listener; not accepted on %s", joinStrings(lost))}
		}
	}
}

func joinStrings(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
