package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// reportObject is one object of /api/status, with the conditions a Gateway,
// a ListenerSet or a route has.
type reportObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Conditions []metav1.Condition `json:"conditions"`
		Listeners  []struct {
			Name       string             `json:"name"`
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"listeners"`
		Parents []struct {
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"parents"`
	} `json:"status"`
}

func (g *gateway) reportObjects() []reportObject {
	g.t.Helper()
	var r struct {
		Objects []reportObject `json:"objects"`
	}
	raw := g.status()
	if err := sigsyaml.Unmarshal([]byte(raw), &r); err != nil {
		g.t.Fatalf("status is not YAML: %v\n%s", err, raw)
	}
	return r.Objects
}

func reportCondition(t *testing.T, objs []reportObject, kind, name, typ string) metav1.Condition {
	t.Helper()
	for _, o := range objs {
		if o.Kind != kind || o.Metadata.Name != name {
			continue
		}
		conds := o.Status.Conditions
		if len(o.Status.Parents) > 0 {
			conds = o.Status.Parents[0].Conditions
		}
		for _, c := range conds {
			if c.Type == typ {
				return c
			}
		}
		t.Fatalf("%s %s has no %s condition: %+v", kind, name, typ, o.Status)
	}
	t.Fatalf("no %s %s in the status report: %+v", kind, name, objs)
	return metav1.Condition{}
}

// TestStatusReportTimesAndListenerSets: /api/status shows a ListenerSet's
// status as it shows a Gateway's, and every condition carries the time it
// last changed (not translation's placeholder, 1970): a route's
// ResolvedRefs gets a new time when its missing backend appears, its
// Accepted, which held, keeps the first.
func TestStatusReportTimesAndListenerSets(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	gwPort, setPort := freePort(t), freePort(t)
	gatewayFile := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: base
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: team-a
spec:
  parentRef: {name: base}
  listeners:
  - {name: team-a-http, protocol: HTTP, port: %d}
---
`, gwPort, setPort) + serviceEntryYAML("blue", blue.port)
	route := func(backend string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: team-a-app
spec:
  parentRefs: [{kind: ListenerSet, name: team-a}]
  rules:
  - backendRefs:
` + seRef(backend, 1)
	}
	start := time.Now().Truncate(time.Second)
	g := startGateway(t, map[string]string{"gateway.yaml": gatewayFile, "route.yaml": route("missing")})

	objs := g.reportObjects()
	set := reportCondition(t, objs, "ListenerSet", "team-a", "Accepted")
	if set.Status != metav1.ConditionTrue {
		t.Errorf("ListenerSet team-a: Accepted %s (%s), want True", set.Status, set.Message)
	}
	firstAccepted := reportCondition(t, objs, "HTTPRoute", "team-a-app", "Accepted")
	refs := reportCondition(t, objs, "HTTPRoute", "team-a-app", "ResolvedRefs")
	if refs.Status != metav1.ConditionFalse {
		t.Fatalf("route to a missing backend: ResolvedRefs %s, want False", refs.Status)
	}
	for _, c := range []metav1.Condition{set, firstAccepted, refs} {
		if at := c.LastTransitionTime.Time; at.Before(start) || at.After(time.Now()) {
			t.Errorf("%s: lastTransitionTime %v, not during this test (from %v)", c.Type, at, start)
		}
	}

	// Condition times have a resolution of a second: let one pass so that
	// a new time can be told from the first.
	time.Sleep(1100 * time.Millisecond)
	before := g.generation()
	g.write("route.yaml", route("blue"))
	g.waitApplied(before, "the route's backend fixed")
	g.expectServed(newClient(), fmt.Sprintf("http://127.0.0.1:%d/", setPort), "any.test", 200, "blue")

	objs = g.reportObjects()
	refs2 := reportCondition(t, objs, "HTTPRoute", "team-a-app", "ResolvedRefs")
	if refs2.Status != metav1.ConditionTrue || !refs2.LastTransitionTime.After(refs.LastTransitionTime.Time) {
		t.Errorf("ResolvedRefs after the fix: %s at %v, want True after %v", refs2.Status, refs2.LastTransitionTime, refs.LastTransitionTime)
	}
	if acc := reportCondition(t, objs, "HTTPRoute", "team-a-app", "Accepted"); !acc.LastTransitionTime.Equal(&firstAccepted.LastTransitionTime) {
		t.Errorf("Accepted held True, but its time moved from %v to %v", firstAccepted.LastTransitionTime, acc.LastTransitionTime)
	}
	if s := reportCondition(t, objs, "ListenerSet", "team-a", "Accepted"); !s.LastTransitionTime.Equal(&set.LastTransitionTime) {
		t.Errorf("the ListenerSet's Accepted held True, but its time moved from %v to %v", set.LastTransitionTime, s.LastTransitionTime)
	}
}

// TestStatusReportRefusedConfiguration: when the data plane refuses a
// configuration (a new listener's port is taken by another process), the
// report says the Gateway and its listeners are not Programmed and why,
// while the configuration before keeps serving; they are Programmed again
// once the listener moves to a free port, or once the port is free and
// SIGHUP has the data plane try again.
func TestStatusReportRefusedConfiguration(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	port := freePort(t)
	taken, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	gateway := func(extraPort int) string {
		extra := ""
		if extraPort != 0 {
			extra = fmt.Sprintf("  - {name: extra, protocol: HTTP, port: %d}\n", extraPort)
		}
		return gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
`, port) + extra + "---\n" + serviceEntryYAML("blue", blue.port) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
` + seRef("blue", 1)
	}
	g := startGateway(t, map[string]string{"gateway.yaml": gateway(0)})
	client := newClient()
	g.expectServed(client, fmt.Sprintf("http://127.0.0.1:%d/", port), "any.test", 200, "blue")
	programmedAt := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed").LastTransitionTime

	time.Sleep(1100 * time.Millisecond) // a new condition time is a second later
	g.write("gateway.yaml", gateway(takenPort))
	var refused metav1.Condition
	eventually(t, 10*time.Second, "the Gateway reported not Programmed", func() error {
		refused = reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed")
		if refused.Status != metav1.ConditionFalse {
			return fmt.Errorf("Programmed %s: %s", refused.Status, refused.Message)
		}
		return nil
	})
	if refused.Reason != "Invalid" || !strings.Contains(refused.Message, "address already in use") || !strings.Contains(refused.Message, strconv.Itoa(takenPort)) {
		t.Errorf("Programmed=False with %s: %q, want Invalid naming port %d in use", refused.Reason, refused.Message, takenPort)
	}
	if !refused.LastTransitionTime.After(programmedAt.Time) {
		t.Errorf("Programmed turned False at %v, not after it was True (%v)", refused.LastTransitionTime, programmedAt)
	}
	for _, o := range g.reportObjects() {
		if o.Kind != "Gateway" {
			continue
		}
		for _, l := range o.Status.Listeners {
			for _, c := range l.Conditions {
				if c.Type == "Programmed" && c.Status != metav1.ConditionFalse {
					t.Errorf("listener %s: Programmed %s while the data plane refuses the configuration", l.Name, c.Status)
				}
			}
		}
	}
	if r := g.report(); r.Dataplane.InSync {
		t.Errorf("the data plane reported in sync with a refused configuration: %+v", r.Dataplane)
	}
	// The configuration before serves on.
	g.expectServed(client, fmt.Sprintf("http://127.0.0.1:%d/", port), "any.test", 200, "blue")

	free := freePort(t)
	g.write("gateway.yaml", gateway(free))
	eventually(t, 10*time.Second, "the Gateway Programmed again", func() error {
		c := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed")
		if c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Programmed %s: %s", c.Status, c.Message)
		}
		return nil
	})
	g.expectServed(client, fmt.Sprintf("http://127.0.0.1:%d/", free), "any.test", 200, "blue")

	// Refused again; this time the other process lets the port go, and
	// SIGHUP has the data plane try the same configuration again.
	g.write("gateway.yaml", gateway(takenPort))
	eventually(t, 10*time.Second, "the Gateway refused again", func() error {
		if c := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed"); c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Programmed %s", c.Status)
		}
		return nil
	})
	taken.Close()
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the Gateway Programmed after SIGHUP", func() error {
		c := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed")
		if c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Programmed %s: %s", c.Status, c.Message)
		}
		return nil
	})
	g.expectServed(client, fmt.Sprintf("http://127.0.0.1:%d/", takenPort), "any.test", 200, "blue")
}

// TestListenersTheDataPlaneCannotBindAreRefusedAlone: a listener on the
// port of edgeway's own admin server, and one on 0.0.0.0 beside another
// Gateway's 127.0.0.1 on the same port, would not bind; the data plane
// would refuse the whole configuration, the other changes written with
// them included. Translation refuses those two listeners (PortUnavailable)
// and the rest of the change is served.
func TestListenersTheDataPlaneCannotBindAreRefusedAlone(t *testing.T) {
	blue, green := startHTTPBackend(t, "blue"), startHTTPBackend(t, "green")
	port := freePort(t)
	config := func(backend string, adminPort int) string {
		extra, wide := "", ""
		if adminPort != 0 {
			extra = fmt.Sprintf("  - {name: admin, protocol: HTTP, port: %d}\n", adminPort)
			wide = fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: wide
spec:
  gatewayClassName: edgeway
  listeners:
  - {name: http, protocol: HTTP, port: %d}
`, port)
		}
		return gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
`, port) + extra + wide + "---\n" + serviceEntryYAML("blue", blue.port) + serviceEntryYAML("green", green.port) + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules:
  - backendRefs:
` + seRef(backend, 1)
	}
	g := startGateway(t, map[string]string{"gateway.yaml": config("blue", 0)})
	client := newClient()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	g.expectServed(client, url, "any.test", 200, "blue")

	_, adminPort, err := net.SplitHostPort(g.admin)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(adminPort)
	g.write("gateway.yaml", config("green", p))
	// The route's change is served: the configuration was not refused.
	g.expectServed(client, url, "any.test", 200, "green")

	objs := g.reportObjects()
	listener := func(gateway, name string) (accepted metav1.Condition) {
		for _, o := range objs {
			if o.Kind != "Gateway" || o.Metadata.Name != gateway {
				continue
			}
			for _, l := range o.Status.Listeners {
				if l.Name == name {
					for _, c := range l.Conditions {
						if c.Type == "Accepted" {
							return c
						}
					}
				}
			}
		}
		t.Fatalf("no Accepted condition for listener %s of Gateway %s", name, gateway)
		return
	}
	admin := listener("gw", "admin")
	if admin.Status != metav1.ConditionFalse || admin.Reason != "PortUnavailable" ||
		!strings.Contains(admin.Message, fmt.Sprintf("spec.listeners[1].port: %d is taken by edgeway's admin server", p)) {
		t.Errorf("listener on the admin port: Accepted %s %s: %q", admin.Status, admin.Reason, admin.Message)
	}
	wide := listener("wide", "http")
	if wide.Status != metav1.ConditionFalse || wide.Reason != "PortUnavailable" ||
		!strings.Contains(wide.Message, fmt.Sprintf("already listens on 127.0.0.1:%d", port)) {
		t.Errorf("listener on 0.0.0.0 beside 127.0.0.1: Accepted %s %s: %q", wide.Status, wide.Reason, wide.Message)
	}
	if c := listener("gw", "http"); c.Status != metav1.ConditionTrue {
		t.Errorf("listener http: Accepted %s %s: %q", c.Status, c.Reason, c.Message)
	}
	if c := reportCondition(t, objs, "Gateway", "gw", "Programmed"); c.Status != metav1.ConditionTrue {
		t.Errorf("Gateway gw: Programmed %s %s: %q", c.Status, c.Reason, c.Message)
	}
	eventually(t, 10*time.Second, "the data plane in sync", func() error {
		if r := g.report(); !r.Dataplane.InSync {
			return fmt.Errorf("not in sync: %+v", r.Dataplane)
		}
		return nil
	})
}
