package status

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// stampConfig is a Gateway with a ListenerSet and an HTTPRoute whose
// backend is named by backend: "web" exists, anything else does not.
func stampConfig(t *testing.T, backend string) *gatewayapi.Statuses {
	t.Helper()
	yaml := `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: edgeway.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: edgeway
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: default}
spec:
  parentRef: {name: gw}
  listeners:
  - {name: more, protocol: HTTP, port: 8081}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: ` + backend + `, port: 80}]
`
	snap, err := snapshot.Parse("stamp.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	_, st := gatewayapi.Translate(snap)
	return st
}

func findCondition(t *testing.T, conds []metav1.Condition, typ string) metav1.Condition {
	t.Helper()
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("no %s condition in %+v", typ, conds)
	return metav1.Condition{}
}

// TestStampKeepsTimesWhileStatusHolds: across two loads, a condition whose
// status held keeps its first time, one that flipped gets the second load's
// time, and no condition of any kind keeps translation's placeholder.
func TestStampKeepsTimesWhileStatusHolds(t *testing.T) {
	ours := gwv1.GatewayController("edgeway.dev/gateway-controller")
	t1 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(90 * time.Second)

	broken := stampConfig(t, "missing")
	first := Stamp(nil, broken, ours, t1)
	route := first.Routes[0].Status.Parents[0]
	if rr := findCondition(t, route.Conditions, "ResolvedRefs"); rr.Status != metav1.ConditionFalse {
		t.Fatalf("the route with a missing backend: ResolvedRefs %s, want False", rr.Status)
	}
	for _, cond := range allConditions(first) {
		if !cond.LastTransitionTime.Time.Equal(t1) {
			t.Errorf("first load: %s at %v, want %v", cond.Type, cond.LastTransitionTime, t1)
		}
	}
	if !allConditions(broken)[0].LastTransitionTime.Time.Equal(time.Unix(0, 0)) {
		t.Error("Stamp modified the statuses it was given")
	}

	second := Stamp(first, stampConfig(t, "web"), ours, t2)
	route = second.Routes[0].Status.Parents[0]
	if rr := findCondition(t, route.Conditions, "ResolvedRefs"); rr.Status != metav1.ConditionTrue || !rr.LastTransitionTime.Time.Equal(t2) {
		t.Errorf("ResolvedRefs after the backend appeared: %s at %v, want True at %v", rr.Status, rr.LastTransitionTime, t2)
	}
	if acc := findCondition(t, route.Conditions, "Accepted"); !acc.LastTransitionTime.Time.Equal(t1) {
		t.Errorf("the route's Accepted held True: at %v, want %v", acc.LastTransitionTime, t1)
	}
	if len(second.ListenerSets) != 1 {
		t.Fatalf("ListenerSets: %+v", second.ListenerSets)
	}
	if acc := findCondition(t, second.ListenerSets[0].Status.Conditions, "Accepted"); acc.Status != metav1.ConditionTrue || !acc.LastTransitionTime.Time.Equal(t1) {
		t.Errorf("the ListenerSet's Accepted: %s at %v, want True at %v", acc.Status, acc.LastTransitionTime, t1)
	}
	if p := findCondition(t, second.Gateways[0].Status.Listeners[0].Conditions, "Programmed"); !p.LastTransitionTime.Time.Equal(t1) {
		t.Errorf("the listener's Programmed: at %v, want %v", p.LastTransitionTime, t1)
	}
	for _, cond := range allConditions(second) {
		if !cond.LastTransitionTime.Time.Equal(t1) && !cond.LastTransitionTime.Time.Equal(t2) {
			t.Errorf("second load: %s at %v", cond.Type, cond.LastTransitionTime)
		}
	}
}

// allConditions lists every condition of every object, listeners'
// included.
func allConditions(st *gatewayapi.Statuses) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range st.GatewayClasses {
		out = append(out, c.Status.Conditions...)
	}
	for _, g := range st.Gateways {
		out = append(out, g.Status.Conditions...)
		for _, l := range g.Status.Listeners {
			out = append(out, l.Conditions...)
		}
	}
	for _, s := range st.ListenerSets {
		out = append(out, s.Status.Conditions...)
		for _, l := range s.Status.Listeners {
			out = append(out, l.Conditions...)
		}
	}
	for _, r := range st.Routes {
		for _, p := range r.Status.Parents {
			out = append(out, p.Conditions...)
		}
	}
	for _, p := range st.Policies {
		for _, a := range p.Status.Ancestors {
			out = append(out, a.Conditions...)
		}
	}
	for _, se := range st.ServiceEntries {
		out = append(out, se.Conditions...)
	}
	return out
}

// TestRefusedFlipsProgrammedOnly: every Programmed=True of Gateways, their
// listeners and ListenerSets turns False (Invalid, with the message); other
// conditions stay, and the statuses given are not modified.
func TestRefusedFlipsProgrammedOnly(t *testing.T) {
	st := stampConfig(t, "web")
	before := len(allConditions(st))
	got := Refused(st, "port 8081 in use")
	conds := allConditions(got)
	if len(conds) != before {
		t.Fatalf("%d conditions, want %d", len(conds), before)
	}
	flipped := 0
	for _, c := range conds {
		if c.Type != "Programmed" {
			continue
		}
		flipped++
		if c.Status != metav1.ConditionFalse || c.Reason != "Invalid" || c.Message != "port 8081 in use" {
			t.Errorf("Programmed %s %s %q, want False Invalid with the message", c.Status, c.Reason, c.Message)
		}
	}
	// The Gateway, its listener, the ListenerSet and its listener.
	if flipped != 4 {
		t.Errorf("%d Programmed conditions, want 4", flipped)
	}
	if acc := findCondition(t, got.Routes[0].Status.Parents[0].Conditions, "Accepted"); acc.Status != metav1.ConditionTrue {
		t.Errorf("the route's Accepted changed: %+v", acc)
	}
	for _, c := range allConditions(st) {
		if c.Type == "Programmed" && c.Status != metav1.ConditionTrue {
			t.Errorf("Refused modified the statuses given: %+v", c)
		}
	}
}
