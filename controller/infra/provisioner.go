package infra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/ca"
)

// FieldManager owns, in server-side apply, every field edgeway sets on the
// provisioned objects; fields set by others (an autoscaler's replicas, a
// cloud controller's annotations, a user's extra labels) are left alone.
const FieldManager = "edgeway"

// CAState is the current xDS CA (a *ca.Keeper).
type CAState interface{ State() *ca.State }

// Provisioner reconciles the infrastructure of every Gateway of our
// GatewayClasses. It is a controller-runtime controller, so it runs on the
// elected leader only.
type Provisioner struct {
	opts Options
	ca   CAState
	log  *slog.Logger
	now  func() time.Time

	client client.Client // the manager's (cached reads, applies)
	reader client.Reader // uncached: the xDS Secret, read right before it is rewritten

	caEvents chan event.GenericEvent
	backends *gatewayBackends // networkpolicy.go

	mu       sync.Mutex
	problems map[types.NamespacedName]problemEntry
	onChange func()
}

type problemEntry struct {
	uid     types.UID
	problem Problem
}

// New returns a Provisioner; it does nothing until SetupWithManager and
// the manager's start.
func New(opts Options, authority CAState, log *slog.Logger) *Provisioner {
	if log == nil {
		log = slog.Default()
	}
	if opts.LeafValidity <= 0 {
		opts.LeafValidity = ca.DefaultLeafValidity
	}
	return &Provisioner{opts: opts, ca: authority, log: log.With("component", "infra"), now: time.Now,
		caEvents: make(chan event.GenericEvent, 1), problems: map[types.NamespacedName]problemEntry{},
		backends: newGatewayBackends()}
}

// OnChange registers f, called when the problem reported for a Gateway
// changes (the status writer's Trigger): a Service event already triggers
// a status pass, a fixed EdgewayConfig does not.
func (p *Provisioner) OnChange(f func()) {
	p.mu.Lock()
	p.onChange = f
	p.mu.Unlock()
}

// CAChanged makes every Gateway's xDS Secret follow a new CA State (wire it
// to ca.Keeper.OnChange).
func (p *Provisioner) CAChanged() {
	select {
	case p.caEvents <- event.GenericEvent{Object: &gwv1.Gateway{}}:
	default: // one pending event covers every Gateway
	}
}

// SetupWithManager registers the controller: it reconciles Gateways, the
// objects they own, and every Gateway when a GatewayClass, an
// EdgewayConfig or the CA changes.
func (p *Provisioner) SetupWithManager(mgr manager.Manager) error {
	p.client = mgr.GetClient()
	p.reader = mgr.GetAPIReader()
	all := handler.EnqueueRequestsFromMapFunc(p.allGateways)
	b := ctrl.NewControllerManagedBy(mgr)
	if servesListenerSets(mgr.GetRESTMapper()) {
		// Their ports are the Gateway's too (listenersets.go). Installed
		// after the controller started, they are still read on the
		// Gateway's next reconcile.
		b = b.Watches(&gwv1.ListenerSet{}, handler.EnqueueRequestsFromMapFunc(parentGateway), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	return b.
		Named("edgeway-infrastructure").
		// Several replicas may share a process (tests, leader fail-over
		// tests): the name only labels metrics.
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true)}).
		// Status writes do not change the generation: they need no reconcile.
		For(&gwv1.Gateway{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Secret{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&gwv1.GatewayClass{}, all).
		Watches(&v1alpha1.EdgewayConfig{}, all).
		WatchesRawSource(source.Channel(p.caEvents, all)).
		// Routes and backends changed what a Gateway's data plane reaches,
		// or the xDS Service moved (networkpolicy.go).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(p.xdsServiceChanged)).
		WatchesRawSource(source.Channel(p.backends.events, handler.EnqueueRequestsFromMapFunc(p.backends.drainChanged))).
		Complete(p)
}

// allGateways lists every Gateway (Reconcile skips those of other classes):
// classes, configs and CA rotations are rare events.
func (p *Provisioner) allGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	var list gwv1.GatewayList
	if err := p.client.List(ctx, &list); err != nil {
		p.log.Error("listing Gateways", "error", err)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, gw := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}})
	}
	return reqs
}

// Reconcile applies one Gateway's infrastructure.
func (p *Provisioner) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gw gwv1.Gateway
	if err := p.client.Get(ctx, req.NamespacedName, &gw); err != nil {
		if apierrors.IsNotFound(err) {
			// Its objects go with it (owner references).
			p.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !gw.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	cfg, ours, prob := p.resolve(ctx, &gw)
	if !ours {
		p.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	if prob != nil {
		p.setProblem(&gw, prob)
		return reconcile.Result{}, nil
	}
	st := p.ca.State()
	if st == nil {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	sets, err := p.listenerSetsOf(ctx, &gw)
	if err != nil {
		return reconcile.Result{}, err
	}
	objs, renderProblem := render(&gw, sets, cfg, p.opts)
	if prob := p.checkOwnership(ctx, &gw); prob != nil {
		p.setProblem(&gw, prob)
		return reconcile.Result{}, nil
	}
	renewAt, err := p.applyCredentials(ctx, &gw, st)
	if err == nil {
		err = p.apply(ctx, objs)
	}
	if err != nil {
		p.setProblem(&gw, problemf(gwv1.GatewayReasonNoResources, "provisioning the data plane: %v", err))
		return reconcile.Result{}, err
	}
	npProblem, err := p.reconcileNetworkPolicy(ctx, &gw, sets, cfg)
	if err != nil {
		p.setProblem(&gw, problemf(gwv1.GatewayReasonNoResources, "provisioning the data plane: %v", err))
		return reconcile.Result{}, err
	}
	if renderProblem == nil {
		renderProblem = npProblem
	}
	p.setProblem(&gw, renderProblem)
	return reconcile.Result{RequeueAfter: max(renewAt.Sub(p.now()), time.Second)}, nil
}

// apply writes the objects with server-side apply; ForceOwnership takes
// back fields edgeway owns that someone else changed (they are ours to
// decide), and only those.
func (p *Provisioner) apply(ctx context.Context, objs *Objects) error {
	opts := []client.ApplyOption{client.FieldOwner(FieldManager), client.ForceOwnership}
	if err := p.client.Apply(ctx, objs.ServiceAccount, opts...); err != nil {
		return fmt.Errorf("ServiceAccount %s: %w", *objs.ServiceAccount.Name, err)
	}
	if objs.Service != nil {
		if err := p.client.Apply(ctx, objs.Service, opts...); err != nil {
			return fmt.Errorf("Service %s: %w", *objs.Service.Name, err)
		}
	}
	if err := p.client.Apply(ctx, objs.Deployment, opts...); err != nil {
		return fmt.Errorf("Deployment %s: %w", *objs.Deployment.Name, err)
	}
	if err := p.client.Apply(ctx, objs.PodDisruptionBudget, opts...); err != nil {
		return fmt.Errorf("PodDisruptionBudget %s: %w", *objs.PodDisruptionBudget.Name, err)
	}
	return nil
}

// applyCredentials writes the Gateway's xDS Secret when its certificate is
// missing, due for renewal or no longer trusted, or the CA bundle changed.
func (p *Provisioner) applyCredentials(ctx context.Context, gw *gwv1.Gateway, st *ca.State) (time.Time, error) {
	var existing corev1.Secret
	key := types.NamespacedName{Namespace: gw.Namespace, Name: SecretName(gw.Name)}
	if err := p.reader.Get(ctx, key, &existing); err != nil && !apierrors.IsNotFound(err) {
		return time.Time{}, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	data, renewAt, why, err := credentials(existing.Data, st, gw, p.now(), p.opts.LeafValidity)
	if err != nil {
		return time.Time{}, fmt.Errorf("xDS client certificate: %w", err)
	}
	if why == "" && existing.UID != "" {
		// Nothing changed in the data; labels and annotations may have.
		data = existing.Data
	}
	if err := p.client.Apply(ctx, renderSecret(gw, data), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return time.Time{}, fmt.Errorf("Secret %s: %w", key, err)
	}
	if why != "" {
		p.log.Info("xDS client certificate", "gateway", gw.Namespace+"/"+gw.Name, "secret", key.Name, "what", why, "renewAt", renewAt)
	}
	return renewAt, nil
}

// checkOwnership refuses to take over an object of one of our names that
// this Gateway does not control (server-side apply would merge into it).
func (p *Provisioner) checkOwnership(ctx context.Context, gw *gwv1.Gateway) *Problem {
	name := ResourceName(gw.Name)
	for _, o := range []struct {
		kind string
		obj  client.Object
		name string
	}{
		{"ServiceAccount", &corev1.ServiceAccount{}, name},
		{"Service", &corev1.Service{}, name},
		{"Deployment", &appsv1.Deployment{}, name},
		{"PodDisruptionBudget", &policyv1.PodDisruptionBudget{}, name},
		{"Secret", &corev1.Secret{}, SecretName(gw.Name)},
	} {
		key := types.NamespacedName{Namespace: gw.Namespace, Name: o.name}
		// Uncached: the cache holds only edgeway's own Deployments,
		// ServiceAccounts and PodDisruptionBudgets (kube.CacheOptions), and
		// a foreign object with our name must be seen to be left alone.
		err := p.reader.Get(ctx, key, o.obj)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return problemf(gwv1.GatewayReasonNoResources, "reading %s %s: %v", o.kind, key, err)
		}
		if !controlledBy(o.obj, gw) {
			return &Problem{Reason: gwv1.GatewayReasonNoResources, Message: notOurs(o.kind, key)}
		}
	}
	return nil
}

func controlledBy(obj metav1.Object, gw *gwv1.Gateway) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == gw.UID
}

// resolve finds gw's GatewayClass and effective EdgewayConfig. ours is
// false for Gateways of other controllers.
func (p *Provisioner) resolve(ctx context.Context, gw *gwv1.Gateway) (cfg config, ours bool, prob *Problem) {
	var gc gwv1.GatewayClass
	if err := p.client.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, &gc); err != nil {
		return config{}, false, nil
	}
	if string(gc.Spec.ControllerName) != p.opts.ControllerName {
		return config{}, false, nil
	}
	var specs []*v1alpha1.EdgewayConfigSpec
	if ref := gc.Spec.ParametersRef; ref != nil {
		ns := ""
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		spec, err := p.edgewayConfig(ctx, string(ref.Group), string(ref.Kind), ns, ref.Name)
		if err != nil {
			return config{}, true, problemf(gwv1.GatewayReasonInvalidParameters, "GatewayClass %s spec.parametersRef: %v", gc.Name, err)
		}
		specs = append(specs, spec)
	}
	if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		ref := inf.ParametersRef
		spec, err := p.edgewayConfig(ctx, string(ref.Group), string(ref.Kind), gw.Namespace, ref.Name)
		if err != nil {
			return config{}, true, problemf(gwv1.GatewayReasonInvalidParameters, "spec.infrastructure.parametersRef: %v", err)
		}
		specs = append(specs, spec)
	}
	return mergeConfig(p.opts, specs...), true, nil
}

func (p *Provisioner) edgewayConfig(ctx context.Context, group, kind, ns, name string) (*v1alpha1.EdgewayConfigSpec, error) {
	if group != v1alpha1.GroupVersion.Group || kind != v1alpha1.KindEdgewayConfig {
		return nil, fmt.Errorf("%s %q is not supported; edgeway takes group %s, kind %s", kind, name, v1alpha1.GroupVersion.Group, v1alpha1.KindEdgewayConfig)
	}
	if ns == "" {
		return nil, errors.New("namespace: required, EdgewayConfig is a namespaced kind")
	}
	var c v1alpha1.EdgewayConfig
	if err := p.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("EdgewayConfig %s/%s not found", ns, name)
		}
		return nil, fmt.Errorf("reading EdgewayConfig %s/%s: %w", ns, name, err)
	}
	return &c.Spec, nil
}

// problem is the last problem recorded for gw (nil: none), if it is about
// this incarnation of the Gateway.
func (p *Provisioner) problem(gw *gwv1.Gateway) *Problem {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.problems[types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}]
	if !ok || e.uid != gw.UID {
		return nil
	}
	pr := e.problem
	return &pr
}

func (p *Provisioner) setProblem(gw *gwv1.Gateway, prob *Problem) {
	key := types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}
	p.mu.Lock()
	old, had := p.problems[key]
	switch {
	case prob == nil && !had:
		p.mu.Unlock()
		return
	case prob == nil:
		delete(p.problems, key)
	case had && old.uid == gw.UID && old.problem == *prob:
		p.mu.Unlock()
		return
	default:
		p.problems[key] = problemEntry{uid: gw.UID, problem: *prob}
	}
	f := p.onChange
	p.mu.Unlock()
	if prob != nil {
		p.log.Warn("Gateway infrastructure not in place", "gateway", key.String(), "reason", prob.Reason, "message", prob.Message)
	}
	if f != nil {
		f()
	}
}

func (p *Provisioner) forget(key types.NamespacedName) {
	p.mu.Lock()
	delete(p.problems, key)
	p.mu.Unlock()
}
