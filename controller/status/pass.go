package status

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/gatewayapi"
)

// pass brings every status we own in line with in. Each object is compared
// with its live status first; nothing is written when nothing changed.
// Routes, policies and ServiceEntries are done once per Input (until a pass
// over them succeeds).
func (w *Writer) pass(ctx context.Context, in *Input) error {
	w.passes.Add(1)
	start, budget := time.Now(), w.yieldLeft
	defer func() {
		// Time spent yielding to translations is not the pass's work.
		statusPassSeconds.Observe((time.Since(start) - (budget - w.yieldLeft)).Seconds())
	}()
	var errs []error
	for _, c := range in.Statuses.GatewayClasses {
		errs = append(errs, w.gatewayClass(ctx, c))
	}
	gateways := map[string]*gwv1.Gateway{}
	for _, g := range in.Snapshot.Gateways {
		gateways[g.Namespace+"/"+g.Name] = g
	}
	gated := map[string]notProgrammed{}
	for _, g := range in.Statuses.Gateways {
		np, err := w.gateway(ctx, in, g, gateways[g.Namespace+"/"+g.Name])
		gated[g.Namespace+"/"+g.Name] = np
		errs = append(errs, err)
	}
	for _, ls := range in.Statuses.ListenerSets {
		errs = append(errs, w.listenerSet(ctx, ls, gated[ls.Gateway]))
	}
	if in == w.translatedInLine {
		// The statuses of routes, policies and ServiceEntries follow the
		// translation alone, and this one's are written: a pass for an
		// ACK or the infrastructure, on the same Input, changes only
		// Gateways and ListenerSets (Programmed, addresses). At thousands
		// of routes this was most of such a pass, on the cores the next
		// translation needed.
		return errors.Join(errs...)
	}
	var translated []error
	translated = append(translated, w.routes(ctx, in)...)
	translated = append(translated, w.policies(ctx, in)...)
	translated = append(translated, w.serviceEntries(ctx, in)...)
	if err := errors.Join(translated...); err != nil {
		w.translatedInLine = nil // the retry's pass does them again
		return errors.Join(append(errs, err)...)
	}
	w.translatedInLine = in
	return errors.Join(errs...)
}

func (w *Writer) gatewayClass(ctx context.Context, c gatewayapi.GatewayClassStatus) error {
	desired := c.Status
	desired.SupportedFeatures = gatewayapi.SupportedFeatures()
	now := w.now()
	return w.write(ctx, client.ObjectKey{Name: c.Name}, &gwv1.GatewayClass{}, func(o client.Object) bool {
		gc := o.(*gwv1.GatewayClass)
		if string(gc.Spec.ControllerName) != w.opts.ControllerName {
			return false // changed hands since the translation
		}
		next := gatewayClassStatus(gc.Status, desired, now)
		if equality.Semantic.DeepEqual(gc.Status, next) {
			return false
		}
		gc.Status = next
		return true
	})
}

// gateway writes one Gateway's status; np is why it is not Programmed
// beyond translation (zero: it is), which its ListenerSets share.
func (w *Writer) gateway(ctx context.Context, in *Input, g gatewayapi.GatewayStatus, snap *gwv1.Gateway) (notProgrammed, error) {
	node := g.Namespace + "/" + g.Name
	desired := *g.Status.DeepCopy()
	reason, msg := w.infrastructure(ctx, snap, &desired)
	np := w.programmed(in, node, reason, msg)
	gateProgrammed(&desired, np)
	now := w.now()
	return np, w.write(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.Name}, &gwv1.Gateway{}, func(o client.Object) bool {
		gw := o.(*gwv1.Gateway)
		next := gatewayStatus(gw.Status, desired, now)
		if equality.Semantic.DeepEqual(gw.Status, next) {
			return false
		}
		gw.Status = next
		return true
	})
}

// listenerSet writes the status of a ListenerSet of one of our Gateways:
// all of it is ours (the Gateway's controller owns its ListenerSets). Its
// listeners are served by the Gateway's data plane, so they are Programmed
// only when the Gateway is (np).
func (w *Writer) listenerSet(ctx context.Context, ls gatewayapi.ListenerSetStatus, np notProgrammed) error {
	desired := *ls.Status.DeepCopy()
	gateListenerSetProgrammed(&desired, np)
	now := w.now()
	return w.write(ctx, client.ObjectKey{Namespace: ls.Namespace, Name: ls.Name}, &gwv1.ListenerSet{}, func(o client.Object) bool {
		set := o.(*gwv1.ListenerSet)
		next := listenerSetStatus(set.Status, desired, now)
		if equality.Semantic.DeepEqual(set.Status, next) {
			return false
		}
		set.Status = next
		return true
	})
}

// routeKinds are the route kinds translation reports, with how to reach
// their RouteStatus.
var routeKinds = map[string]struct {
	new    func() client.Object
	status func(client.Object) *gwv1.RouteStatus
}{
	"HTTPRoute": {func() client.Object { return &gwv1.HTTPRoute{} }, func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.HTTPRoute).Status.RouteStatus }},
	"GRPCRoute": {func() client.Object { return &gwv1.GRPCRoute{} }, func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.GRPCRoute).Status.RouteStatus }},
	"TLSRoute":  {func() client.Object { return &gwv1.TLSRoute{} }, func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.TLSRoute).Status.RouteStatus }},
	"TCPRoute":  {func() client.Object { return &gwv1.TCPRoute{} }, func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.TCPRoute).Status.RouteStatus }},
	"UDPRoute":  {func() client.Object { return &gwv1.UDPRoute{} }, func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.UDPRoute).Status.RouteStatus }},
}

// routes writes our RouteParentStatus entries, and removes ours from routes
// that no longer attach to any of our Gateways. A route the last pass left
// in line with the same translated statuses, and that nobody wrote since
// (its resourceVersion in the Snapshot), is skipped without being read
// (routememo.go).
func (w *Writer) routes(ctx context.Context, in *Input) []error {
	var errs []error
	if w.routeVersions == nil {
		w.routeVersions, w.routesDone = map[routeKey]string{}, map[routeKey]struct{}{}
	}
	snapshotRouteVersions(in.Snapshot, w.routeVersions)
	done := w.routesDone
	clear(done)
	next := make(map[routeKey]routeInLine, len(in.Statuses.Routes))
	for _, r := range in.Statuses.Routes {
		k := routeKey{r.Kind, r.Namespace, r.Name}
		done[k] = struct{}{}
		desired := r.Status.Parents
		if m, ok := w.routesInLine[k]; ok && m.inLine(desired, w.routeVersions[k]) {
			next[k] = m
			continue
		}
		rv, err := w.routeAt(ctx, r.Kind, r.Namespace, r.Name, desired)
		errs = append(errs, err)
		if err == nil {
			if m, ok := remember(desired, rv); ok {
				next[k] = m
			}
		}
	}
	w.routesInLine = next
	stale := func(kind string, o client.Object, st gwv1.RouteStatus) {
		if _, ok := done[routeKey{kind, o.GetNamespace(), o.GetName()}]; !ok && hasParentsOf(st.Parents, w.ours) {
			errs = append(errs, w.route(ctx, kind, o.GetNamespace(), o.GetName(), nil))
		}
	}
	s := in.Snapshot
	for _, r := range s.HTTPRoutes {
		stale("HTTPRoute", r, r.Status.RouteStatus)
	}
	for _, r := range s.GRPCRoutes {
		stale("GRPCRoute", r, r.Status.RouteStatus)
	}
	for _, r := range s.TLSRoutes {
		stale("TLSRoute", r, r.Status.RouteStatus)
	}
	for _, r := range s.TCPRoutes {
		stale("TCPRoute", r, r.Status.RouteStatus)
	}
	for _, r := range s.UDPRoutes {
		stale("UDPRoute", r, r.Status.RouteStatus)
	}
	return errs
}

func (w *Writer) route(ctx context.Context, kind, ns, name string, desired []gwv1.RouteParentStatus) error {
	_, err := w.routeAt(ctx, kind, ns, name, desired)
	return err
}

// routeAt is route, returning the route's resourceVersion once in line
// ("" when it is gone or of a kind we do not write).
func (w *Writer) routeAt(ctx context.Context, kind, ns, name string, desired []gwv1.RouteParentStatus) (string, error) {
	k, ok := routeKinds[kind]
	if !ok {
		return "", nil
	}
	now := w.now()
	obj := k.new()
	err := w.write(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj, func(o client.Object) bool {
		st := k.status(o)
		next := routeParents(st.Parents, desired, w.ours, now)
		if equality.Semantic.DeepEqual(st.Parents, next) || (len(st.Parents) == 0 && len(next) == 0) {
			return false
		}
		st.Parents = next
		return true
	})
	if err != nil {
		return "", err
	}
	return obj.GetResourceVersion(), nil
}

// policies writes our BackendTLSPolicy ancestor entries, and removes ours
// from policies no longer used by our Gateways.
func (w *Writer) policies(ctx context.Context, in *Input) []error {
	var errs []error
	done := map[string]bool{}
	for _, p := range in.Statuses.Policies {
		if p.Kind != "BackendTLSPolicy" {
			continue
		}
		done[p.Namespace+"/"+p.Name] = true
		errs = append(errs, w.policy(ctx, p.Namespace, p.Name, p.Status.Ancestors))
	}
	for _, p := range in.Snapshot.BackendTLSPolicies {
		if !done[p.Namespace+"/"+p.Name] && hasAncestorsOf(p.Status.Ancestors, w.ours) {
			errs = append(errs, w.policy(ctx, p.Namespace, p.Name, nil))
		}
	}
	return errs
}

func (w *Writer) policy(ctx context.Context, ns, name string, desired []gwv1.PolicyAncestorStatus) error {
	now := w.now()
	return w.write(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gwv1.BackendTLSPolicy{}, func(o client.Object) bool {
		p := o.(*gwv1.BackendTLSPolicy)
		next := policyAncestors(p.Status.Ancestors, desired, w.ours, now)
		if equality.Semantic.DeepEqual(p.Status.Ancestors, next) || (len(p.Status.Ancestors) == 0 && len(next) == 0) {
			return false
		}
		p.Status.Ancestors = next
		return true
	})
}
