package infra

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// gatewayBackends holds, per Gateway, the Backends of the IR last
// published for it (every replica translates; the leader's provisioner
// reads them). A Gateway whose backends changed is reconciled again.
type gatewayBackends struct {
	mu      sync.Mutex
	byNode  map[string][]Backend
	changed map[types.NamespacedName]bool
	events  chan event.GenericEvent
}

func newGatewayBackends() *gatewayBackends {
	return &gatewayBackends{byNode: map[string][]Backend{}, changed: map[types.NamespacedName]bool{},
		events: make(chan event.GenericEvent, 1)}
}

// Translated takes one translation's per-Gateway IRs (node id
// "<ns>/<name>" -> IR) and the Snapshot they came from. It never blocks:
// wire it to kube.Source.Subscribe (Install does). A node whose IR the
// xDS server refused keeps its previous backends: its data planes keep
// their previous configuration too.
func (p *Provisioner) Translated(snap *snapshot.Snapshot, nodes map[string]*ir.IR, publishErrors map[string]error) {
	g := p.backends
	g.mu.Lock()
	for node, x := range nodes {
		if publishErrors[node] != nil {
			continue
		}
		b := backendsOf(x, snap)
		if old, ok := g.byNode[node]; ok && reflect.DeepEqual(old, b) {
			continue
		}
		g.byNode[node] = b
		if ns, name, ok := strings.Cut(node, "/"); ok {
			g.changed[types.NamespacedName{Namespace: ns, Name: name}] = true
		}
	}
	for node := range g.byNode {
		if _, ok := nodes[node]; !ok {
			delete(g.byNode, node)
		}
	}
	pending := len(g.changed) > 0
	g.mu.Unlock()
	if pending {
		select {
		case g.events <- event.GenericEvent{Object: &gwv1.Gateway{}}:
		default: // one pending event drains every change
		}
	}
}

// drainChanged maps the wake-up event to the Gateways whose backends
// changed since the last one.
func (g *gatewayBackends) drainChanged(context.Context, client.Object) []reconcile.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	reqs := make([]reconcile.Request, 0, len(g.changed))
	for key := range g.changed {
		reqs = append(reqs, reconcile.Request{NamespacedName: key})
	}
	clear(g.changed)
	return reqs
}

// of returns the backends of gw; ok is false before a translation
// included it.
func (g *gatewayBackends) of(gw *gwv1.Gateway) (b []Backend, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok = g.byNode[gw.Namespace+"/"+gw.Name]
	return b, ok
}

// reconcileNetworkPolicy applies gw's NetworkPolicy when the option is on
// and deletes the one gw controls when it is off. Before the first
// translation that includes gw the existing policy is left as it is:
// applying one without backends would cut a running data plane off its
// backends (a new leader reconciles every Gateway at once).
func (p *Provisioner) reconcileNetworkPolicy(ctx context.Context, gw *gwv1.Gateway, sets []gwv1.ListenerSet, cfg config) (*Problem, error) {
	key := types.NamespacedName{Namespace: gw.Namespace, Name: ResourceName(gw.Name)}
	var existing networkingv1.NetworkPolicy
	// On: uncached, like checkOwnership (the cache holds only edgeway's
	// own, and a foreign one of our name must be seen). Off, the default:
	// only one of ours may need deleting, and the cache has it.
	reader := p.reader
	if !cfg.networkPolicy.enabled {
		reader = p.client
	}
	err := reader.Get(ctx, key, &existing)
	found := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading NetworkPolicy %s: %w", key, err)
	}
	if found && !controlledBy(&existing, gw) {
		if !cfg.networkPolicy.enabled {
			return nil, nil // someone else's, and we want none
		}
		return &Problem{Reason: gwv1.GatewayReasonNoResources, Message: notOurs("NetworkPolicy", key)}, nil
	}
	if !cfg.networkPolicy.enabled {
		if !found {
			return nil, nil
		}
		uid := existing.UID
		err := p.client.Delete(ctx, &existing, client.Preconditions{UID: &uid})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting NetworkPolicy %s (spec.networkPolicy is off): %w", key, err)
		}
		p.log.Info("NetworkPolicy deleted: spec.networkPolicy is off", "gateway", gw.Namespace+"/"+gw.Name, "networkPolicy", key.Name)
		return nil, nil
	}
	backends, known := p.backends.of(gw)
	if !known {
		return nil, nil // Translated enqueues gw when its backends are known
	}
	var xdsService *corev1.Service
	if svcKey, ok := p.xdsServiceKey(); ok {
		var svc corev1.Service
		if err := p.client.Get(ctx, svcKey, &svc); err == nil {
			xdsService = &svc
		} else if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the xDS Service %s: %w", svcKey, err)
		}
	}
	np, problem := renderNetworkPolicy(gw, sets, cfg, p.opts, xdsService, backends)
	if err := p.client.Apply(ctx, np, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("NetworkPolicy %s: %w", key, err)
	}
	return problem, nil
}

// xdsServiceKey names the controller's xDS Service, from
// Options.XDSAddress "<service>.<namespace>.svc:<port>".
func (p *Provisioner) xdsServiceKey() (types.NamespacedName, bool) {
	x, ok := xdsServerOf(p.opts, nil)
	if !ok {
		return types.NamespacedName{}, false
	}
	name, _, _ := strings.Cut(p.opts.XDSAddress, ".")
	return types.NamespacedName{Namespace: x.namespace, Name: name}, true
}

// xdsServiceChanged maps an event of the controller's xDS Service (its
// selector or target port: every NetworkPolicy's xDS rule) to every
// Gateway; events of other Services to none.
func (p *Provisioner) xdsServiceChanged(ctx context.Context, obj client.Object) []reconcile.Request {
	key, ok := p.xdsServiceKey()
	if !ok || obj.GetNamespace() != key.Namespace || obj.GetName() != key.Name {
		return nil
	}
	return p.allGateways(ctx, obj)
}
