package status

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// Stamp gives translated statuses real lastTransitionTimes where no API
// server keeps them: standalone mode's /api/status. Translation leaves a
// placeholder (the epoch) in every condition; Stamp keeps, for each
// condition, the time it had in prev while its type and status stay the
// same (a changed reason or message alone is no transition), and gives any
// other condition now. These are the rules the Kubernetes writer applies
// against the live objects (merge.go). prev is the last stamped result, or
// nil before the first load; neither argument is modified.
func Stamp(prev, next *gatewayapi.Statuses, ours gwv1.GatewayController, now time.Time) *gatewayapi.Statuses {
	if next == nil {
		return nil
	}
	if prev == nil {
		prev = &gatewayapi.Statuses{}
	}
	t := metav1.NewTime(now.UTC().Truncate(time.Second)) // what the API server would keep
	out := &gatewayapi.Statuses{
		GatewayClasses: make([]gatewayapi.GatewayClassStatus, 0, len(next.GatewayClasses)),
		Gateways:       make([]gatewayapi.GatewayStatus, 0, len(next.Gateways)),
		Routes:         make([]gatewayapi.RouteStatus, 0, len(next.Routes)),
		ListenerSets:   make([]gatewayapi.ListenerSetStatus, 0, len(next.ListenerSets)),
		Policies:       make([]gatewayapi.PolicyStatus, 0, len(next.Policies)),
		ServiceEntries: make([]gatewayapi.ServiceEntryStatus, 0, len(next.ServiceEntries)),
	}

	classes := make(map[string]gwv1.GatewayClassStatus, len(prev.GatewayClasses))
	for _, c := range prev.GatewayClasses {
		classes[c.Name] = c.Status
	}
	for _, c := range next.GatewayClasses {
		c.Status = gatewayClassStatus(classes[c.Name], c.Status, t)
		out.GatewayClasses = append(out.GatewayClasses, c)
	}

	type nsName struct{ ns, name string }
	gateways := make(map[nsName]gwv1.GatewayStatus, len(prev.Gateways))
	for _, g := range prev.Gateways {
		gateways[nsName{g.Namespace, g.Name}] = g.Status
	}
	for _, g := range next.Gateways {
		g.Status = gatewayStatus(gateways[nsName{g.Namespace, g.Name}], g.Status, t)
		out.Gateways = append(out.Gateways, g)
	}

	sets := make(map[nsName]gwv1.ListenerSetStatus, len(prev.ListenerSets))
	for _, s := range prev.ListenerSets {
		sets[nsName{s.Namespace, s.Name}] = s.Status
	}
	for _, s := range next.ListenerSets {
		s.Status = listenerSetStatus(sets[nsName{s.Namespace, s.Name}], s.Status, t)
		out.ListenerSets = append(out.ListenerSets, s)
	}

	type kindNsName struct{ kind, ns, name string }
	routes := make(map[kindNsName][]gwv1.RouteParentStatus, len(prev.Routes))
	for _, r := range prev.Routes {
		routes[kindNsName{r.Kind, r.Namespace, r.Name}] = r.Status.Parents
	}
	for _, r := range next.Routes {
		r.Status.Parents = routeParents(routes[kindNsName{r.Kind, r.Namespace, r.Name}], r.Status.Parents, ours, t)
		out.Routes = append(out.Routes, r)
	}

	policies := make(map[kindNsName][]gwv1.PolicyAncestorStatus, len(prev.Policies))
	for _, p := range prev.Policies {
		policies[kindNsName{p.Kind, p.Namespace, p.Name}] = p.Status.Ancestors
	}
	for _, p := range next.Policies {
		p.Status.Ancestors = policyAncestors(policies[kindNsName{p.Kind, p.Namespace, p.Name}], p.Status.Ancestors, ours, t)
		out.Policies = append(out.Policies, p)
	}

	entries := make(map[nsName][]metav1.Condition, len(prev.ServiceEntries))
	for _, se := range prev.ServiceEntries {
		entries[nsName{se.Namespace, se.Name}] = se.Conditions
	}
	for _, se := range next.ServiceEntries {
		se.Conditions = conditions(entries[nsName{se.Namespace, se.Name}], se.Conditions, t)
		out.ServiceEntries = append(out.ServiceEntries, se)
	}
	return out
}

// Refused returns st with the Programmed=True conditions of every Gateway,
// its listeners and its ListenerSets turned False (reason Invalid) with
// message: for standalone mode, where one data plane serves every Gateway
// in one configuration and has refused it (keeping the one before). The
// status writer's gate for a data plane that has not applied a Gateway's
// listeners (programmed.go) says the same per Gateway. st is not modified.
func Refused(st *gatewayapi.Statuses, message string) *gatewayapi.Statuses {
	if st == nil {
		return nil
	}
	out := *st
	np := notProgrammed{string(gwv1.GatewayReasonInvalid), message}
	out.Gateways = make([]gatewayapi.GatewayStatus, len(st.Gateways))
	for i, g := range st.Gateways {
		g.Status.Conditions = slices.Clone(g.Status.Conditions)
		g.Status.Listeners = slices.Clone(g.Status.Listeners)
		for j := range g.Status.Listeners {
			g.Status.Listeners[j].Conditions = slices.Clone(g.Status.Listeners[j].Conditions)
		}
		gateProgrammed(&g.Status, np)
		out.Gateways[i] = g
	}
	out.ListenerSets = make([]gatewayapi.ListenerSetStatus, len(st.ListenerSets))
	for i, s := range st.ListenerSets {
		s.Status.Conditions = slices.Clone(s.Status.Conditions)
		s.Status.Listeners = slices.Clone(s.Status.Listeners)
		for j := range s.Status.Listeners {
			s.Status.Listeners[j].Conditions = slices.Clone(s.Status.Listeners[j].Conditions)
		}
		gateListenerSetProgrammed(&s.Status, np)
		out.ListenerSets[i] = s
	}
	return &out
}
