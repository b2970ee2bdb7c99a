package status

import (
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Merging desired statuses (from translation, with placeholder
// lastTransitionTimes) into live ones. Pure functions: the writer supplies
// the clock.

// conditions returns desired with real lastTransitionTimes: a condition
// whose status did not change keeps the live one's time (whatever happened
// to its reason or message), any other gets now.
func conditions(live, desired []metav1.Condition, now metav1.Time) []metav1.Condition {
	if desired == nil {
		return nil
	}
	out := make([]metav1.Condition, 0, len(desired))
	for _, d := range desired {
		d.LastTransitionTime = now
		for _, l := range live {
			if l.Type == d.Type && l.Status == d.Status {
				d.LastTransitionTime = l.LastTransitionTime
				break
			}
		}
		out = append(out, d)
	}
	return out
}

// gatewayStatus: the Gateway's status is entirely ours (its class names our
// controller); listener conditions keep their times by listener name.
func gatewayStatus(live, desired gwv1.GatewayStatus, now metav1.Time) gwv1.GatewayStatus {
	out := desired
	out.Conditions = conditions(live.Conditions, desired.Conditions, now)
	out.Listeners = listenerConditions(live.Listeners, desired.Listeners, now,
		func(l *gwv1.ListenerStatus) (gwv1.SectionName, *[]metav1.Condition) { return l.Name, &l.Conditions })
	return out
}

// listenerSetStatus: like a Gateway's (a ListenerSet of our Gateway is ours).
func listenerSetStatus(live, desired gwv1.ListenerSetStatus, now metav1.Time) gwv1.ListenerSetStatus {
	out := desired
	out.Conditions = conditions(live.Conditions, desired.Conditions, now)
	out.Listeners = listenerConditions(live.Listeners, desired.Listeners, now,
		func(l *gwv1.ListenerEntryStatus) (gwv1.SectionName, *[]metav1.Condition) {
			return l.Name, &l.Conditions
		})
	return out
}

// listenerConditions is desired with each listener's conditions merged
// into those of the live listener of the same name (Gateway listeners and
// ListenerSet entries alike; fields tells a listener's name and conditions).
func listenerConditions[L any](live, desired []L, now metav1.Time, fields func(*L) (gwv1.SectionName, *[]metav1.Condition)) []L {
	var out []L
	for _, d := range desired {
		name, conds := fields(&d)
		var liveConds []metav1.Condition
		for i := range live {
			if n, c := fields(&live[i]); n == name {
				liveConds = *c
				break
			}
		}
		*conds = conditions(liveConds, *conds, now)
		out = append(out, d)
	}
	return out
}

// gatewayClassStatus: conditions and supportedFeatures are ours.
func gatewayClassStatus(live, desired gwv1.GatewayClassStatus, now metav1.Time) gwv1.GatewayClassStatus {
	out := desired
	out.Conditions = conditions(live.Conditions, desired.Conditions, now)
	return out
}

// routeParents keeps every RouteParentStatus of another controller as it is
// (in its place) and replaces ours with desired (each keeping the times of
// our live entry for the same parentRef). Our entries for parentRefs that
// are gone are dropped; desired nil drops all of ours.
func routeParents(live []gwv1.RouteParentStatus, desired []gwv1.RouteParentStatus, ours gwv1.GatewayController, now metav1.Time) []gwv1.RouteParentStatus {
	out := []gwv1.RouteParentStatus{}
	for _, l := range live {
		if l.ControllerName != ours {
			out = append(out, l)
		}
	}
	for _, d := range desired {
		var liveConds []metav1.Condition
		for _, l := range live {
			if l.ControllerName == ours && equality.Semantic.DeepEqual(l.ParentRef, d.ParentRef) {
				liveConds = l.Conditions
				break
			}
		}
		d.ControllerName = ours
		d.Conditions = conditions(liveConds, d.Conditions, now)
		out = append(out, d)
	}
	return out
}

// policyAncestors is routeParents for PolicyAncestorStatus entries.
func policyAncestors(live []gwv1.PolicyAncestorStatus, desired []gwv1.PolicyAncestorStatus, ours gwv1.GatewayController, now metav1.Time) []gwv1.PolicyAncestorStatus {
	out := []gwv1.PolicyAncestorStatus{}
	for _, l := range live {
		if l.ControllerName != ours {
			out = append(out, l)
		}
	}
	for _, d := range desired {
		var liveConds []metav1.Condition
		for _, l := range live {
			if l.ControllerName == ours && equality.Semantic.DeepEqual(l.AncestorRef, d.AncestorRef) {
				liveConds = l.Conditions
				break
			}
		}
		d.ControllerName = ours
		d.Conditions = conditions(liveConds, d.Conditions, now)
		out = append(out, d)
	}
	return out
}

// hasParentsOf reports whether any entry is ours.
func hasParentsOf(live []gwv1.RouteParentStatus, ours gwv1.GatewayController) bool {
	for _, l := range live {
		if l.ControllerName == ours {
			return true
		}
	}
	return false
}

func hasAncestorsOf(live []gwv1.PolicyAncestorStatus, ours gwv1.GatewayController) bool {
	for _, l := range live {
		if l.ControllerName == ours {
			return true
		}
	}
	return false
}
