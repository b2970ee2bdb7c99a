package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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

// reportListenerCondition is the condition typ of a Gateway's listener.
func reportListenerCondition(t *testing.T, objs []reportObject, gateway, listener, typ string) metav1.Condition {
	t.Helper()
	for _, o := range objs {
		if o.Kind != "Gateway" || o.Metadata.Name != gateway {
			continue
		}
		for _, l := range o.Status.Listeners {
			for _, c := range l.Conditions {
				if l.Name == listener && c.Type == typ {
					return c
				}
			}
		}
	}
	t.Fatalf("no %s condition for listener %s of Gateway %s", typ, listener, gateway)
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

// TestListenersOnPortsAnotherProcessHoldsAreRefusedAlone: a listener whose
// port another process holds (TCP or UDP) would have the data plane refuse
// the whole configuration, every other change with it. Edgeway learns the
// socket from the refusal, publishes the rest without it, and reports that
// listener alone PortUnavailable, with the system's reason; the Gateway
// stays Programmed, its condition untouched. Once the other process lets
// the port go, the listener is served within --bind-retry. From the first
// load as from a later one.
func TestListenersOnPortsAnotherProcessHoldsAreRefusedAlone(t *testing.T) {
	blue, green := startHTTPBackend(t, "blue"), startHTTPBackend(t, "green")
	dns := startUDPBackend(t, "dns")
	port := freePort(t)
	heldTCP, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer heldTCP.Close()
	heldUDP, err := net.ListenPacket("udp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer heldUDP.Close()
	tcpPort, udpPort := heldTCP.Addr().(*net.TCPAddr).Port, heldUDP.LocalAddr().(*net.UDPAddr).Port
	config := func(backend string, extra bool) string {
		held := ""
		if extra {
			held = fmt.Sprintf("  - {name: held, protocol: HTTP, port: %d}\n", tcpPort)
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
  - {name: dns, protocol: UDP, port: %d}
`, port, udpPort) + held + `---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata:
  name: dns
spec:
  parentRefs: [{name: gw, sectionName: dns}]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: dns, port: 53}]
---
` + dnsServiceEntryYAML("dns", "UDP", dns.port) + serviceEntryYAML("blue", blue.port) + serviceEntryYAML("green", green.port) + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
` + seRef(backend, 1)
	}
	var g *gateway
	listenerAccepted := func(name string) metav1.Condition {
		t.Helper()
		return reportListenerCondition(t, g.reportObjects(), "gw", name, "Accepted")
	}
	inSync := func() {
		t.Helper()
		eventually(t, 10*time.Second, "the data plane in sync", func() error {
			if r := g.report(); !r.Dataplane.InSync {
				return fmt.Errorf("not in sync: %+v", r.Dataplane)
			}
			return nil
		})
	}
	refused := func(name string, addr string) {
		t.Helper()
		want := fmt.Sprintf("the data plane could not bind %s: bind: address already in use", addr)
		if c := listenerAccepted(name); c.Status != metav1.ConditionFalse || c.Reason != "PortUnavailable" || !strings.Contains(c.Message, want) {
			t.Errorf("listener %s: Accepted %s %s: %q; want PortUnavailable saying %q", name, c.Status, c.Reason, c.Message, want)
		}
	}

	// The first load: the UDP port is held; edgeway is ready and serves the rest.
	g = startGateway(t, map[string]string{"gateway.yaml": config("blue", false)}, "--bind-retry", "300ms")
	client := newClient()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	g.expectServed(client, url, "any.test", 200, "blue")
	inSync()
	refused("dns", fmt.Sprintf("127.0.0.1:%d", udpPort))
	programmed := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed")
	if programmed.Status != metav1.ConditionTrue {
		t.Fatalf("Gateway Programmed %s: %q", programmed.Status, programmed.Message)
	}

	// A later load adds a listener on the held TCP port and moves the
	// route to green: the move is served, the new listener refused alone.
	time.Sleep(1100 * time.Millisecond) // a new condition time would be a second later
	g.write("gateway.yaml", config("green", true))
	g.expectServed(client, url, "any.test", 200, "green")
	inSync()
	refused("held", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	refused("dns", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if c := reportCondition(t, g.reportObjects(), "Gateway", "gw", "Programmed"); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&programmed.LastTransitionTime) {
		t.Errorf("Gateway Programmed %s since %v, want True since %v (never refused): %q", c.Status, c.LastTransitionTime, programmed.LastTransitionTime, c.Message)
	}
	if c := listenerAccepted("http"); c.Status != metav1.ConditionTrue {
		t.Errorf("listener http: Accepted %s %s: %q", c.Status, c.Reason, c.Message)
	}

	// The other process lets the ports go: both listeners are served.
	heldTCP.Close()
	heldUDP.Close()
	g.expectServed(client, fmt.Sprintf("http://127.0.0.1:%d/", tcpPort), "any.test", 200, "green")
	eventually(t, 10*time.Second, "the UDP listener served", func() error {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
		if err != nil {
			return err
		}
		defer c.Close()
		got, err := udpExchange(c, "ping")
		if err == nil && got != "dns:ping" {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	})
	inSync()
	for _, name := range []string{"held", "dns"} {
		if c := listenerAccepted(name); c.Status != metav1.ConditionTrue {
			t.Errorf("listener %s once its port is free: Accepted %s %s: %q", name, c.Status, c.Reason, c.Message)
		}
	}
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
	listener := func(gateway, name string) metav1.Condition {
		t.Helper()
		return reportListenerCondition(t, objs, gateway, name, "Accepted")
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
