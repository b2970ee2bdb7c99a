package gatewayapi

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerSets (GEP-1713): listeners declared outside the Gateway, by
// whoever may write a ListenerSet in a namespace the Gateway's
// spec.allowedListeners selects. An attached ListenerSet's listeners are
// the Gateway's own for serving: they join its sockets, its address and
// its data plane (they come after the Gateway's in g.listeners). They
// differ in three ways:
//   - precedence: the Gateway's listeners, then ListenerSets oldest first,
//     then by namespace/name. A listener that conflicts with one earlier in
//     that order is Conflicted and not served; the earlier one keeps
//     serving (within one Gateway or one ListenerSet, both of an
//     indistinct pair are Conflicted, as before);
//   - references: a listener refers from its ListenerSet (namespace,
//     allowedRoutes Same, ReferenceGrants naming ListenerSets);
//   - attachment: a route attaches to a ListenerSet's listeners only
//     through a parentRef to the ListenerSet, never through one to the
//     Gateway (and a sectionName on a Gateway parentRef names only the
//     Gateway's own listeners).

// listenerSetCtx is one ListenerSet whose parent is one of our Gateways.
type listenerSetCtx struct {
	obj *gwv1.ListenerSet
	key string // "<ns>/<name>"
	gw  *gatewayCtx
	// problem: the ListenerSet is not attached (NotAllowed,
	// ParentNotAccepted); its listeners are then not even validated.
	problem   problem
	listeners []*listenerCtx
}

// attached: the Gateway took the ListenerSet and at least one of its
// listeners is valid (what status.attachedListenerSets counts).
func (s *listenerSetCtx) attached() bool {
	return s.problem.ok() && s.acceptedListeners() > 0
}

// acceptedListeners counts the valid listeners: accepted, not conflicted
// and with usable certificates (a ListenerSet whose only listener may not
// use its certificate is not attached: ListenersNotValid); a certificate
// ACME is still obtaining counts as usable.
func (s *listenerSetCtx) acceptedListeners() int {
	n := 0
	for _, l := range s.listeners {
		if l.accepted.ok() && l.conflicted.ok() && l.certUsable() {
			n++
		}
	}
	return n
}

// translateListenerSets attaches the ListenerSets of our Gateways, in
// precedence order. Runs after translateGateways (it needs every Gateway's
// own listeners) and before assignSockets.
func (t *translator) translateListenerSets() {
	var sets []*gwv1.ListenerSet
	for _, ls := range t.snap.ListenerSets {
		if ls != nil {
			sets = append(sets, ls)
		}
	}
	sort.SliceStable(sets, func(i, j int) bool { return olderFirst(sets[i], sets[j]) })
	t.setByKey = map[string]*listenerSetCtx{}
	for _, ls := range sets {
		g := t.listenerSetParent(ls)
		if g == nil {
			continue // another controller's Gateway, or none: not ours to report
		}
		s := &listenerSetCtx{obj: ls, key: key(ls.Namespace, ls.Name), gw: g}
		t.listenerSets = append(t.listenerSets, s)
		t.setByKey[s.key] = s
		if !t.listenerSetAllowed(g, ls.Namespace) {
			s.problem = problem{string(gwv1.ListenerSetReasonNotAllowed), fmt.Sprintf(
				"spec.parentRef: Gateway %s does not allow ListenerSets from namespace %s: its spec.allowedListeners.namespaces (default from: None) must select this namespace", g.key, ls.Namespace)}
			continue
		}
		if !g.addressProblem.ok() {
			s.problem = problem{string(gwv1.ListenerSetReasonParentNotAccepted), fmt.Sprintf(
				"spec.parentRef: Gateway %s is not accepted: %s", g.key, g.addressProblem.message)}
			continue
		}
		for i := range ls.Spec.Listeners {
			spec := listenerOfEntry(&ls.Spec.Listeners[i])
			l := t.newListener(g, s, i, spec)
			t.resolveACME(l)
			s.listeners = append(s.listeners, l)
		}
		// First against the listeners before the set: a listener that loses
		// there serves nothing and so does not conflict its siblings.
		for _, l := range s.listeners {
			markConflictWithEarlier(l, g.listeners)
		}
		markGatewayConflicts(s.listeners)
		g.listeners = append(g.listeners, s.listeners...)
		g.sets = append(g.sets, s)
	}
}

// listenerOfEntry is a ListenerSet's listener in the shape of a Gateway's:
// the fields are the same, and translation validates both alike.
func listenerOfEntry(e *gwv1.ListenerEntry) *gwv1.Listener {
	return &gwv1.Listener{
		Name:          e.Name,
		Hostname:      e.Hostname,
		Port:          e.Port,
		Protocol:      e.Protocol,
		TLS:           e.TLS,
		AllowedRoutes: e.AllowedRoutes,
	}
}

// markConflictWithEarlier conflicts l with the first of the earlier
// listeners (higher precedence) it is indistinct from; the earlier one
// keeps serving. Earlier listeners that are themselves invalid or
// conflicted serve nothing and so block nothing.
func markConflictWithEarlier(l *listenerCtx, earlier []*listenerCtx) {
	if !l.accepted.ok() || !l.conflicted.ok() {
		return
	}
	var found problem
	for _, e := range earlier {
		if !e.accepted.ok() || !e.conflicted.ok() {
			continue
		}
		p := listenerConflict(l, e, e.describe())
		if p.ok() {
			continue
		}
		if found.ok() || (p.reason == string(gwv1.ListenerReasonProtocolConflict) && found.reason != p.reason) {
			found = p
		}
	}
	if !found.ok() {
		l.conflicted = found
	}
}

// listenerSetParent is the Gateway of ours that ls names, or nil.
func (t *translator) listenerSetParent(ls *gwv1.ListenerSet) *gatewayCtx {
	ref := ls.Spec.ParentRef
	if ref.Group != nil && string(*ref.Group) != gatewayGroup {
		return nil
	}
	if ref.Kind != nil && string(*ref.Kind) != "Gateway" {
		return nil
	}
	ns := ls.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	return t.byKey[key(ns, string(ref.Name))]
}

// listenerSetAllowed applies the Gateway's spec.allowedListeners (default:
// no ListenerSets at all). Selector matches the Namespace object's labels,
// with kubernetes.io/metadata.name always present, as for allowedRoutes.
func (t *translator) listenerSetAllowed(g *gatewayCtx, ns string) bool {
	al := g.obj.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return false
	}
	switch *al.Namespaces.From {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return ns == g.obj.Namespace
	case gwv1.NamespacesFromSelector:
		if al.Namespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(al.Namespaces.Selector)
		if err != nil {
			return false
		}
		set := labels.Set{corev1.LabelMetadataName: ns}
		if n := t.namespaces[ns]; n != nil {
			for k, v := range n.Labels {
				set[k] = v
			}
		}
		return sel.Matches(set)
	}
	return false // None
}

// listenerSetStatuses renders the status of every ListenerSet of our
// Gateways, once routes are attached and sockets assigned.
func (t *translator) listenerSetStatuses() {
	for _, s := range t.listenerSets {
		gen := s.obj.Generation
		st := gwv1.ListenerSetStatus{}
		for _, l := range s.listeners {
			ls := l.status()
			st.Listeners = append(st.Listeners, gwv1.ListenerEntryStatus{
				Name: ls.Name, SupportedKinds: ls.SupportedKinds, AttachedRoutes: ls.AttachedRoutes, Conditions: ls.Conditions,
			})
		}
		programmed := 0
		for _, l := range s.listeners {
			if l.programmed() {
				programmed++
			}
		}
		accepted := s.acceptedListeners()
		switch {
		case !s.problem.ok():
			st.Conditions = append(st.Conditions,
				cond(gwv1.ListenerSetConditionAccepted, false, s.problem.reason, s.problem.message, gen),
				cond(gwv1.ListenerSetConditionProgrammed, false, s.problem.reason, "ListenerSet is not attached: "+s.problem.message, gen))
		case accepted == 0:
			msg := "no listener is valid: " + invalidSetListeners(s.listeners)
			st.Conditions = append(st.Conditions,
				cond(gwv1.ListenerSetConditionAccepted, false, gwv1.ListenerSetReasonListenersNotValid, msg, gen),
				cond(gwv1.ListenerSetConditionProgrammed, false, gwv1.ListenerSetReasonListenersNotValid, msg, gen))
		default:
			if accepted < len(s.listeners) {
				st.Conditions = append(st.Conditions, cond(gwv1.ListenerSetConditionAccepted, true, gwv1.ListenerSetReasonListenersNotValid, invalidSetListeners(s.listeners), gen))
			} else {
				st.Conditions = append(st.Conditions, cond(gwv1.ListenerSetConditionAccepted, true, gwv1.ListenerSetReasonAccepted, "ListenerSet is attached to Gateway "+s.gw.key, gen))
			}
			if programmed > 0 {
				msg := "ListenerSet is programmed"
				if programmed < len(s.listeners) {
					msg = fmt.Sprintf("%d of %d listeners are programmed", programmed, len(s.listeners))
				}
				st.Conditions = append(st.Conditions, cond(gwv1.ListenerSetConditionProgrammed, true, gwv1.ListenerSetReasonProgrammed, msg, gen))
			} else {
				st.Conditions = append(st.Conditions, cond(gwv1.ListenerSetConditionProgrammed, false, gwv1.ListenerSetReasonInvalid, "no listener is programmed: "+notProgrammedListeners(s.listeners), gen))
			}
		}
		t.statuses.ListenerSets = append(t.statuses.ListenerSets, ListenerSetStatus{
			Namespace: s.obj.Namespace, Name: s.obj.Name, Gateway: s.gw.key, Status: st,
		})
	}
}

// notProgrammedListeners says why each listener is not programmed.
func notProgrammedListeners(ls []*listenerCtx) string {
	msg := ""
	for _, l := range ls {
		if l.programmed() {
			continue
		}
		if msg != "" {
			msg += "; "
		}
		msg += fmt.Sprintf("listener %q: %s", l.spec.Name, l.notProgrammedWhy())
	}
	return msg
}

// invalidSetListeners is invalidListeners plus the listeners whose
// certificates cannot be used, which do not count as valid in a ListenerSet.
func invalidSetListeners(ls []*listenerCtx) string {
	msg := invalidListeners(ls)
	for _, l := range ls {
		if l.accepted.ok() && l.conflicted.ok() && !l.certUsable() {
			if msg != "" {
				msg += "; "
			}
			msg += fmt.Sprintf("listener %q has unusable certificateRefs (%s)", l.spec.Name, l.certProblem.reason)
		}
	}
	return msg
}

// certUsable: the certificateRefs resolve, or ACME is obtaining the
// certificate.
func (l *listenerCtx) certUsable() bool {
	return l.certProblem.ok() || (l.acme != nil && l.acme.pending)
}
