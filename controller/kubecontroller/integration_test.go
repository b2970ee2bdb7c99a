package kubecontroller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// TestKubernetes runs the controller against a real kube-apiserver + etcd
// (built from the Go module proxy, see conformance/kubebin). The subtests
// share the server; each has its own namespaces and controller name.
func TestKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	if err := v1alpha1.AddToScheme(api.Client.Scheme()); err != nil {
		t.Fatal(err)
	}
	t.Run("Status", func(t *testing.T) { testStatus(t, api) })
	t.Run("ReferenceGrantRevocation", func(t *testing.T) { testReferenceGrantRevocation(t, api) })
	t.Run("BurstOfRouteWrites", func(t *testing.T) { testBurst(t, api) })
	t.Run("GatewayClassParameters", func(t *testing.T) { testParameters(t, api) })
	t.Run("LeaderFailover", func(t *testing.T) { testFailover(t, api) })
}

func get(t *testing.T, c client.Client, ns, name string, obj client.Object) error {
	t.Helper()
	return c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func testStatus(t *testing.T, api *apiserver.Server) {
	c := api.Client
	ctrl := startController(t, api.Config, nil)
	ours := controllerName(t)
	ns := namespace(t, c, "status")
	create(t, c,
		gatewayClass("status-ours", ours),
		gatewayClass("status-other", "example.com/other"),
		gateway(ns, "gw", "status-ours", 80),
		gateway(ns, "foreign", "status-other", 80),
	)
	create(t, c, service(ns, "echo", "198.18.0.10")...)
	create(t, c, httpRoute(ns, "web", []gwv1.ParentReference{parentRef(ns, "gw"), parentRef(ns, "foreign")}, "", "echo"))

	// Another controller's entry on the same route, written as that
	// controller would (conflict-safe: our writer may be writing too).
	t0 := metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	foreignRef := parentRef(ns, "foreign")
	foreignRef.Group, foreignRef.Kind = ptr.To(gwv1.Group(gwv1.GroupName)), ptr.To(gwv1.Kind("Gateway")) // as the API server defaults them
	foreign := gwv1.RouteParentStatus{
		ParentRef:      foreignRef,
		ControllerName: "example.com/other",
		Conditions:     []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "theirs", ObservedGeneration: 1, LastTransitionTime: t0}},
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := &gwv1.HTTPRoute{}
		if err := get(t, c, ns, "web", r); err != nil {
			return err
		}
		r.Status.Parents = append(r.Status.Parents, foreign)
		return c.Status().Update(context.Background(), r)
	}); err != nil {
		t.Fatal(err)
	}

	// GatewayClass: Accepted, supportedFeatures, observedGeneration, a real time.
	eventually(t, 20*time.Second, "GatewayClass accepted", func() error {
		gc := &gwv1.GatewayClass{}
		if err := get(t, c, "", "status-ours", gc); err != nil {
			return err
		}
		if err := wantCondition(gc.Status.Conditions, "Accepted", "True", "Accepted"); err != nil {
			return err
		}
		acc := condition(gc.Status.Conditions, "Accepted")
		if acc.ObservedGeneration != gc.Generation || acc.LastTransitionTime.Year() < 2020 {
			return fmt.Errorf("accepted condition %+v (generation %d)", acc, gc.Generation)
		}
		if !slices.ContainsFunc(gc.Status.SupportedFeatures, func(f gwv1.SupportedFeature) bool { return f.Name == "HTTPRoute" }) {
			return fmt.Errorf("supportedFeatures %v lack HTTPRoute", gc.Status.SupportedFeatures)
		}
		return nil
	})
	other := &gwv1.GatewayClass{}
	if err := get(t, c, "", "status-other", other); err != nil {
		t.Fatal(err)
	}
	if a := condition(other.Status.Conditions, "Accepted"); a != nil && a.Status == "True" {
		t.Errorf("another controller's GatewayClass was accepted by us: %+v", a)
	}

	// Gateway: accepted, one attached route, not Programmed before a data
	// plane ACKed.
	eventually(t, 20*time.Second, "Gateway accepted, pending", func() error {
		gw := &gwv1.Gateway{}
		if err := get(t, c, ns, "gw", gw); err != nil {
			return err
		}
		if err := wantCondition(gw.Status.Conditions, "Accepted", "True", "Accepted"); err != nil {
			return err
		}
		if err := wantCondition(gw.Status.Conditions, "Programmed", "False", "Pending"); err != nil {
			return err
		}
		if len(gw.Status.Listeners) != 1 || gw.Status.Listeners[0].AttachedRoutes != 1 {
			return fmt.Errorf("listeners %+v, want one with 1 attached route", gw.Status.Listeners)
		}
		return nil
	})
	route := &gwv1.HTTPRoute{}
	eventually(t, 20*time.Second, "route parent status", func() error {
		if err := get(t, c, ns, "web", route); err != nil {
			return err
		}
		return checkParents(route.Status.Parents, ours, ns, foreign, 1)
	})

	// A data plane of the Gateway ACKs: Programmed, and it has the backend.
	dp := connectDataplane(t, ctrl.xdsAddr, ns+"/gw")
	eventually(t, 20*time.Second, "Gateway programmed after the ACK", func() error {
		gw := &gwv1.Gateway{}
		if err := get(t, c, ns, "gw", gw); err != nil {
			return err
		}
		if err := wantCondition(gw.Status.Conditions, "Programmed", "True", "Programmed"); err != nil {
			return err
		}
		return wantCondition(gw.Status.Listeners[0].Conditions, "Programmed", "True", "Programmed")
	})
	if cl := dp.clusters(); !slices.Contains(cl, "service/"+ns+"/echo/80") {
		t.Errorf("data plane clusters %v lack service/%s/echo/80", cl, ns)
	}
	gw := &gwv1.Gateway{}
	if err := get(t, c, ns, "gw", gw); err != nil {
		t.Fatal(err)
	}
	acceptedAt := condition(gw.Status.Conditions, "Accepted").LastTransitionTime

	// A spec change: observedGeneration follows; unchanged conditions keep
	// their time; the other controller's entry is still untouched.
	time.Sleep(1100 * time.Millisecond) // a new lastTransitionTime would differ by a second
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := &gwv1.HTTPRoute{}
		if err := get(t, c, ns, "web", r); err != nil {
			return err
		}
		r.Spec.Hostnames = []gwv1.Hostname{"web.example.com"}
		return c.Update(context.Background(), r)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "observedGeneration 2", func() error {
		if err := get(t, c, ns, "web", route); err != nil {
			return err
		}
		if route.Generation != 2 {
			return fmt.Errorf("route generation %d", route.Generation)
		}
		return checkParents(route.Status.Parents, ours, ns, foreign, 2)
	})
	if err := get(t, c, ns, "gw", gw); err != nil {
		t.Fatal(err)
	}
	if got := condition(gw.Status.Conditions, "Accepted").LastTransitionTime; !got.Equal(&acceptedAt) {
		t.Errorf("Gateway Accepted lastTransitionTime moved from %v to %v without a status change", acceptedAt, got)
	}

	// Nothing changed: more passes write nothing.
	time.Sleep(500 * time.Millisecond)
	writes, passes := ctrl.Writer.Writes(), ctrl.Writer.Passes()
	for range 3 {
		ctrl.Writer.Trigger()
		time.Sleep(150 * time.Millisecond)
	}
	if ctrl.Writer.Passes() == passes {
		t.Error("triggers ran no status pass")
	}
	if w := ctrl.Writer.Writes(); w != writes {
		t.Errorf("%d status writes without any change", w-writes)
	}
	t.Logf("status: %d writes, %d passes, %d conflicts, %d translations", ctrl.Writer.Writes(), ctrl.Writer.Passes(), ctrl.Writer.Conflicts(), ctrl.Source.Translations())
}

// checkParents: exactly our entry for gw (Accepted, ResolvedRefs at
// generation gen) and the other controller's entry byte for byte.
func checkParents(parents []gwv1.RouteParentStatus, ours, ns string, foreign gwv1.RouteParentStatus, gen int64) error {
	var mine, theirs []gwv1.RouteParentStatus
	for _, p := range parents {
		if string(p.ControllerName) == ours {
			mine = append(mine, p)
		} else {
			theirs = append(theirs, p)
		}
	}
	if len(theirs) != 1 || !equality.Semantic.DeepEqual(theirs[0], foreign) {
		return fmt.Errorf("other controller's entries %+v, want exactly %+v", theirs, foreign)
	}
	if len(mine) != 1 || string(mine[0].ParentRef.Name) != "gw" {
		return fmt.Errorf("our entries %+v, want one for gw", mine)
	}
	for _, typ := range []string{"Accepted", "ResolvedRefs"} {
		if err := wantCondition(mine[0].Conditions, typ, "True", typ); err != nil {
			return err
		}
		if c := condition(mine[0].Conditions, typ); c.ObservedGeneration != gen {
			return fmt.Errorf("%s observedGeneration %d, want %d", typ, c.ObservedGeneration, gen)
		}
	}
	return nil
}

func testReferenceGrantRevocation(t *testing.T, api *apiserver.Server) {
	c := api.Client
	ctrl := startController(t, api.Config, nil)
	routes, backends := namespace(t, c, "grant-routes"), namespace(t, c, "grant-backends")
	create(t, c, gatewayClass("grant", controllerName(t)), gateway(routes, "gw", "grant", 80))
	create(t, c, service(backends, "echo", "198.18.0.11")...)
	grant := &gwv1.ReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Namespace: backends, Name: "routes-to-echo"},
		Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "HTTPRoute", Namespace: gwv1.Namespace(routes)}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service", Name: ptr.To(gwv1.ObjectName("echo"))}},
		},
	}
	create(t, c, grant, httpRoute(routes, "cross", []gwv1.ParentReference{parentRef(routes, "gw")}, backends, "echo"))
	node := routes + "/gw"
	dp := connectDataplane(t, ctrl.xdsAddr, node)
	cluster := "service/" + backends + "/echo/80"
	resolved := func(status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			r := &gwv1.HTTPRoute{}
			if err := get(t, c, routes, "cross", r); err != nil {
				return err
			}
			if len(r.Status.Parents) != 1 {
				return fmt.Errorf("parents %+v", r.Status.Parents)
			}
			return wantCondition(r.Status.Parents[0].Conditions, "ResolvedRefs", status, reason)
		}
	}
	eventually(t, 20*time.Second, "ResolvedRefs with the grant", resolved("True", "ResolvedRefs"))
	eventually(t, 10*time.Second, "the data plane has the backend", func() error {
		if !slices.Contains(dp.clusters(), cluster) {
			return fmt.Errorf("clusters %v", dp.clusters())
		}
		return nil
	})
	before := ctrl.XDS.Versions(node)

	start := time.Now()
	if err := c.Delete(context.Background(), grant); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "ResolvedRefs=False RefNotPermitted after the revocation", resolved("False", "RefNotPermitted"))
	took := time.Since(start)
	eventually(t, 5*time.Second, "the data plane lost the backend", func() error {
		if slices.Contains(dp.clusters(), cluster) {
			return fmt.Errorf("clusters %v still hold %s", dp.clusters(), cluster)
		}
		return nil
	})
	after := ctrl.XDS.Versions(node)
	if before[resource.ClusterType] == after[resource.ClusterType] || before[resource.RouteType] == after[resource.RouteType] {
		t.Errorf("xDS versions did not change: before %v after %v", before, after)
	}
	t.Logf("revocation: status RefNotPermitted %v after the delete", took.Round(time.Millisecond))
}

func testBurst(t *testing.T, api *apiserver.Server) {
	c := api.Client
	ctrl := startController(t, api.Config, nil)
	ns := namespace(t, c, "burst")
	create(t, c, gatewayClass("burst", controllerName(t)), gateway(ns, "gw", "burst", 80))
	create(t, c, service(ns, "echo", "198.18.0.12")...)
	eventually(t, 20*time.Second, "first translation", func() error {
		if r := ctrl.Source.Latest(); r == nil || len(r.Nodes) != 1 {
			return fmt.Errorf("no Gateway translated yet")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	translations, events := ctrl.Source.Translations(), ctrl.Source.Events()

	const n = 100
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 10 {
				r := httpRoute(ns, fmt.Sprintf("r%03d", i), []gwv1.ParentReference{parentRef(ns, "gw")}, "", "echo")
				r.Spec.Hostnames = []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("r%03d.example.com", i))}
				if err := c.Create(context.Background(), r); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	eventually(t, 20*time.Second, "all routes attached", func() error {
		r := ctrl.Source.Latest()
		if got := r.Statuses.Gateways[0].Status.Listeners[0].AttachedRoutes; got != n {
			return fmt.Errorf("%d attached routes", got)
		}
		return nil
	})
	// The status writes that follow (100 route statuses) are not inputs.
	eventually(t, 30*time.Second, "every route status written", func() error {
		list := &gwv1.HTTPRouteList{}
		if err := c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, r := range list.Items {
			if len(r.Status.Parents) == 0 {
				return fmt.Errorf("%s has no status", r.Name)
			}
		}
		return nil
	})
	settled := ctrl.Source.Translations()
	time.Sleep(time.Second)
	if extra := ctrl.Source.Translations() - settled; extra != 0 {
		t.Errorf("%d translations after the status writes settled: our own status writes are translating", extra)
	}
	used := settled - translations
	t.Logf("burst: %d route creates in %v (%d relevant events) cost %d translations", n, wrote.Round(time.Millisecond), ctrl.Source.Events()-events, used)
	// The debounce coalesces a burst's events until 50 ms pass without one
	// (at most 250 ms): how many translations a burst costs depends on how evenly a
	// loaded machine spaces the writes, so the bound is on coalescing (four
	// writes or more per translation), not on the clock. On a quiet machine
	// a burst of 100 costs 2-4; at load 13 on 2 cores it once cost 21, so
	// the bound leaves room for a slow API server spacing the events.
	if maxT := uint64(n / 4); used > maxT {
		t.Errorf("%d route writes in %v cost %d translations, want at most %d: the debounce does not coalesce a burst", n, wrote, used, maxT)
	}
}

func testParameters(t *testing.T, api *apiserver.Server) {
	c := api.Client
	startController(t, api.Config, nil)
	ns := namespace(t, c, "params")
	gc := gatewayClass("params", controllerName(t))
	gc.Spec.ParametersRef = &gwv1.ParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Namespace: ptr.To(gwv1.Namespace(ns)), Name: "small"}
	create(t, c, gc)
	accepted := func(status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			gc := &gwv1.GatewayClass{}
			if err := get(t, c, "", "params", gc); err != nil {
				return err
			}
			return wantCondition(gc.Status.Conditions, "Accepted", status, reason)
		}
	}
	eventually(t, 20*time.Second, "InvalidParameters while the EdgewayConfig is missing", accepted("False", "InvalidParameters"))
	create(t, c, &v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "small"}, Spec: v1alpha1.EdgewayConfigSpec{Replicas: ptr.To(int32(2))}})
	eventually(t, 20*time.Second, "Accepted once it exists", accepted("True", "Accepted"))
}

func testFailover(t *testing.T, api *apiserver.Server) {
	c := api.Client
	leases := namespace(t, c, "leases")
	ns := namespace(t, c, "failover")
	name := controllerName(t)
	election := func(cfg *Config) {
		cfg.ControllerName = name
		cfg.LeaderElection = true
		cfg.LeaderElectionNamespace = leases
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 4*time.Second, 3*time.Second, 200*time.Millisecond
	}
	a := startController(t, api.Config, election)
	b := startController(t, api.Config, election)
	var leader, follower *running
	eventually(t, 30*time.Second, "one leader", func() error {
		switch {
		case a.Writer.Leading() && !b.Writer.Leading():
			leader, follower = a, b
		case b.Writer.Leading() && !a.Writer.Leading():
			leader, follower = b, a
		default:
			return fmt.Errorf("leading: a=%v b=%v", a.Writer.Leading(), b.Writer.Leading())
		}
		return nil
	})
	create(t, c, gatewayClass("failover", name), gateway(ns, "gw", "failover", 80))
	create(t, c, service(ns, "echo", "198.18.0.13")...)
	create(t, c, httpRoute(ns, "web", []gwv1.ParentReference{parentRef(ns, "gw")}, "", "echo"))
	routeGeneration := func(gen int64) func() error {
		return func() error {
			r := &gwv1.HTTPRoute{}
			if err := get(t, c, ns, "web", r); err != nil {
				return err
			}
			if len(r.Status.Parents) != 1 {
				return fmt.Errorf("parents %+v", r.Status.Parents)
			}
			if a := condition(r.Status.Parents[0].Conditions, "Accepted"); a == nil || a.ObservedGeneration != gen {
				return fmt.Errorf("accepted %+v, want observedGeneration %d", a, gen)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "status by the first leader", routeGeneration(1))

	// A data plane connected to the follower: the leader learns its ACK
	// from the follower's report and writes Programmed.
	connectDataplane(t, follower.xdsAddr, ns+"/gw")
	eventually(t, 20*time.Second, "Programmed from the follower's data plane", func() error {
		gw := &gwv1.Gateway{}
		if err := get(t, c, ns, "gw", gw); err != nil {
			return err
		}
		return wantCondition(gw.Status.Conditions, "Programmed", "True", "Programmed")
	})
	if follower.Writer.Writes() != 0 {
		t.Errorf("the follower wrote %d statuses", follower.Writer.Writes())
	}
	// Both replicas serve xDS for the Gateway.
	for _, r := range []*running{leader, follower} {
		if v := r.XDS.Versions(ns + "/gw"); v == nil {
			t.Errorf("replica at %s publishes nothing for %s/gw", r.xdsAddr, ns)
		}
	}

	start := time.Now()
	leader.stop(t)
	eventually(t, 20*time.Second, "the other replica leads", func() error {
		if !follower.Writer.Leading() {
			return fmt.Errorf("not leading yet")
		}
		return nil
	})
	took := time.Since(start)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := &gwv1.HTTPRoute{}
		if err := get(t, c, ns, "web", r); err != nil {
			return err
		}
		r.Spec.Hostnames = []gwv1.Hostname{"after.example.com"}
		return c.Update(context.Background(), r)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "status by the new leader", routeGeneration(2))
	// The writer counts a write once its PATCH has returned, which can be
	// after the status above was read back.
	eventually(t, 5*time.Second, "the new leader's write counted", func() error {
		if follower.Writer.Writes() == 0 {
			return fmt.Errorf("the new leader wrote nothing")
		}
		return nil
	})
	t.Logf("fail-over: the other replica led %v after the leader stopped", took.Round(time.Millisecond))
}
