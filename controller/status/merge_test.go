package status

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

var (
	t0   = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now  = metav1.NewTime(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	zero = metav1.NewTime(time.Unix(0, 0).UTC())
)

func c(typ string, status metav1.ConditionStatus, reason string, ltt metav1.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason, LastTransitionTime: ltt, ObservedGeneration: 1}
}

func TestConditionsKeepTimeUnlessStatusChanges(t *testing.T) {
	live := []metav1.Condition{c("Accepted", "True", "Accepted", t0), c("Programmed", "True", "Programmed", t0)}
	desired := []metav1.Condition{
		c("Accepted", "True", "ListenersNotValid", zero), // same status, new reason: time kept
		c("Programmed", "False", "Pending", zero),        // status changed: now
		c("ResolvedRefs", "True", "ResolvedRefs", zero),  // new: now
	}
	got := conditions(live, desired, now)
	want := []metav1.Time{t0, now, now}
	for i := range got {
		if !got[i].LastTransitionTime.Equal(&want[i]) {
			t.Errorf("%s: lastTransitionTime %v, want %v", got[i].Type, got[i].LastTransitionTime, want[i])
		}
	}
	if got[0].Reason != "ListenersNotValid" {
		t.Errorf("reason not updated: %v", got[0].Reason)
	}
	if desired[1].LastTransitionTime != zero {
		t.Error("desired modified in place")
	}
}

func TestRouteParentsLeaveOtherControllersAlone(t *testing.T) {
	ours := gwv1.GatewayController("edgeway.dev/gateway-controller")
	other := gwv1.GatewayController("example.com/other")
	ref := func(name string) gwv1.ParentReference { return gwv1.ParentReference{Name: gwv1.ObjectName(name)} }
	live := []gwv1.RouteParentStatus{
		{ParentRef: ref("theirs"), ControllerName: other, Conditions: []metav1.Condition{c("Accepted", "False", "Whatever", t0)}},
		{ParentRef: ref("a"), ControllerName: ours, Conditions: []metav1.Condition{c("Accepted", "True", "Accepted", t0)}},
		{ParentRef: ref("gone"), ControllerName: ours, Conditions: []metav1.Condition{c("Accepted", "True", "Accepted", t0)}},
	}
	desired := []gwv1.RouteParentStatus{
		{ParentRef: ref("a"), Conditions: []metav1.Condition{c("Accepted", "True", "Accepted", zero)}},
		{ParentRef: ref("b"), Conditions: []metav1.Condition{c("Accepted", "True", "Accepted", zero)}},
	}
	got := routeParents(live, desired, ours, now)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3: %+v", len(got), got)
	}
	if got[0].ControllerName != other || got[0].Conditions[0].Reason != "Whatever" || !got[0].Conditions[0].LastTransitionTime.Equal(&t0) {
		t.Errorf("other controller's entry changed: %+v", got[0])
	}
	if got[1].ParentRef.Name != "a" || !got[1].Conditions[0].LastTransitionTime.Equal(&t0) || got[1].ControllerName != ours {
		t.Errorf("our unchanged entry: %+v", got[1])
	}
	if got[2].ParentRef.Name != "b" || !got[2].Conditions[0].LastTransitionTime.Equal(&now) {
		t.Errorf("our new entry: %+v", got[2])
	}
	if none := routeParents(live, nil, ours, now); len(none) != 1 || none[0].ControllerName != other {
		t.Errorf("dropping ours left %+v", none)
	}
}

func TestGateProgrammed(t *testing.T) {
	st := gwv1.GatewayStatus{
		Conditions: []metav1.Condition{c("Accepted", "True", "Accepted", zero), c("Programmed", "True", "Programmed", zero)},
		Listeners:  []gwv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{c("Programmed", "True", "Programmed", zero)}}},
	}
	gateProgrammed(&st, notProgrammed{"AddressNotAssigned", "no address yet"})
	if p := st.Conditions[1]; p.Status != "False" || p.Reason != "AddressNotAssigned" || p.Message != "no address yet" {
		t.Errorf("gateway Programmed %+v", p)
	}
	if p := st.Listeners[0].Conditions[0]; p.Status != "False" || p.Reason != "Pending" {
		t.Errorf("listener Programmed %+v", p)
	}
	if st.Conditions[0].Status != "True" {
		t.Error("Accepted changed")
	}
}
