package gatewayapi

import (
	"maps"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The Translator's memo one level above compilation: an HTTPRoute's
// attachment (attach: the listeners and domains each parentRef reaches,
// or its problem) is a function of the route's spec and of the listener
// world, and its status of those and of its compilation's report. When
// the listener world of a translation equals the previous one's, an
// HTTPRoute of the same UID and generation attaches as before, and when
// its compilation was reused too (the same report), its status is the
// one rendered before.

// listenerWorld is everything attach reads besides the route: the
// Gateways and ListenerSets a parentRef can name, with their listeners
// in a fixed order (which the recorded attachments index), and the
// Namespaces' labels when a listener selects namespaces by label.
type listenerWorld struct {
	controllerName string
	parents        []parentView
	listeners      []listenerView
	// namespaces are the labels of every Namespace, by name; nil unless
	// some listener selects namespaces.
	namespaces map[string]map[string]string
}

// worldListeners are the listeners of one translation in the order of its
// listenerWorld, and their positions. The Translator keeps the world, not
// these: they hold the whole translation (every route on its listeners).
type worldListeners struct {
	ctx []*listenerCtx
	pos map[*listenerCtx]int
}

// parentView is a Gateway or ListenerSet as attach sees it; its listeners
// are the next count entries of listenerWorld.listeners.
type parentView struct {
	kind, key string
	gateway   string  // a ListenerSet's Gateway; "" for a Gateway
	problem   problem // a ListenerSet's, not attached to its Gateway
	count     int
}

// listenerView is a listener as attach sees it.
type listenerView struct {
	name      gwv1.SectionName
	port      gwv1.PortNumber
	hostname  string
	kinds     []gwv1.Kind // supportedKinds (allowsKind reads the kinds only)
	from      gwv1.FromNamespaces
	selector  *metav1.LabelSelector
	namespace string // its owner's, for From Same
}

// newListenerWorld describes this translation's listener world; it runs
// after the listeners are validated (supportedKinds, hostnames, the
// ListenerSets' problems).
func (t *translator) newListenerWorld() (*listenerWorld, worldListeners) {
	w := &listenerWorld{controllerName: t.controllerName}
	wl := worldListeners{pos: map[*listenerCtx]int{}}
	selects := false
	add := func(p parentView, ls []*listenerCtx) {
		p.count = len(ls)
		w.parents = append(w.parents, p)
		for _, l := range ls {
			v := listenerView{name: l.spec.Name, port: l.spec.Port, hostname: l.hostname, from: gwv1.NamespacesFromSame, namespace: l.owner().namespace}
			for _, k := range l.supportedKinds {
				v.kinds = append(v.kinds, k.Kind)
			}
			if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
				if ar.Namespaces.From != nil {
					v.from = *ar.Namespaces.From
				}
				v.selector = ar.Namespaces.Selector
			}
			selects = selects || v.from == gwv1.NamespacesFromSelector
			w.listeners = append(w.listeners, v)
			wl.pos[l] = len(wl.ctx)
			wl.ctx = append(wl.ctx, l)
		}
	}
	for _, g := range t.gateways {
		add(parentView{kind: "Gateway", key: g.key}, g.own())
	}
	for _, s := range t.listenerSets {
		add(parentView{kind: "ListenerSet", key: s.key, gateway: s.gw.key, problem: s.problem}, s.listeners)
	}
	if selects {
		w.namespaces = make(map[string]map[string]string, len(t.namespaces))
		for name, ns := range t.namespaces {
			w.namespaces[name] = ns.Labels
		}
	}
	return w, wl
}

// equal: attach gives every route the same result in both worlds.
func (w *listenerWorld) equal(o *listenerWorld) bool {
	return o != nil && w.controllerName == o.controllerName &&
		slices.Equal(w.parents, o.parents) &&
		slices.EqualFunc(w.listeners, o.listeners, func(a, b listenerView) bool {
			return a.name == b.name && a.port == b.port && a.hostname == b.hostname && slices.Equal(a.kinds, b.kinds) &&
				a.from == b.from && a.namespace == b.namespace && reflect.DeepEqual(a.selector, b.selector)
		}) &&
		(w.namespaces == nil) == (o.namespaces == nil) &&
		maps.EqualFunc(w.namespaces, o.namespaces, func(a, b map[string]string) bool { return maps.Equal(a, b) })
}

// attachedHTTPRoute is the attachment of one generation of an HTTPRoute
// in one listener world, and the status last rendered for it.
type attachedHTTPRoute struct {
	generation int64
	key        string // routeInfo.key(), the listeners' attachedRoutes key
	parents    []attachedParent
	// listeners are the listeners of every parent's attachments, each
	// once: those whose attachedRoutes count the route.
	listeners []int
	// report is the compilation report status was rendered with; status
	// is nil until rendered (never when cross serving changed parents).
	report *ruleReport
	status *RouteStatus
}

// attachedParent is a parentResult with its listeners as indexes into
// listenerWorld.listeners.
type attachedParent struct {
	ref         gwv1.ParentReference
	problem     problem
	attachments []attachedListener
}

type attachedListener struct {
	listener int
	domains  []string
}

// beginAttachMemo renews the Translator's listener world for this
// translation and tells whether the previous one's attachments hold.
func (t *translator) beginAttachMemo() {
	if t.memo == nil {
		return
	}
	w, wl := t.newListenerWorld()
	t.attachSame = w.equal(t.memo.world)
	t.world = wl
	t.memo.world = w
	t.memo.AttachReused = 0
	// Each listener's set of attached routes, sized as the previous
	// translation's at the same position (only a hint): at thousands of
	// routes on one listener, growing it was a large share of attaching
	// them through the memo.
	for i, l := range wl.ctx {
		if i < len(t.memo.attachedSizes) && len(l.attached) == 0 {
			l.attached = make(map[string]bool, t.memo.attachedSizes[i])
		}
	}
}

// endAttachMemo records the size of each listener's set of attached
// routes for the next translation's beginAttachMemo.
func (t *translator) endAttachMemo() {
	if t.memo == nil {
		return
	}
	sizes := t.memo.attachedSizes[:0]
	for _, l := range t.world.ctx {
		sizes = append(sizes, len(l.attached))
	}
	t.memo.attachedSizes = sizes
}

// attachHTTPRouteMemo is attachHTTPLike for an HTTPRoute with a UID and a
// generation, through the Translator: its previous attachment when the
// listener world is the same, and its previous status when the
// compilation's report is too. It records the route for the next
// translation.
func (t *translator) attachHTTPRouteMemo(info routeInfo, r *gwv1.HTTPRoute) {
	prev := t.previousRoute(r)
	rec := httpRouteMemo{obj: r}
	defer func() { t.memo.routes = append(t.memo.routes, rec) }()
	if prev == nil || prev.attached == nil || !t.attachSame || prev.attached.generation != r.Generation {
		rec.attached, rec.compiled = t.attachHTTPRouteAfresh(info, r, prev)
		return
	}
	a := prev.attached
	rec.attached = a
	t.memo.AttachReused++
	if len(a.parents) == 0 {
		return
	}
	if t.routesUnique && !t.crossAttached {
		for _, l := range a.listeners {
			t.world.ctx[l].attachedCounted++
		}
	} else {
		for _, l := range a.listeners {
			t.world.ctx[l].attached[a.key] = true
		}
	}
	if len(t.crossLosers) > 0 {
		// Cross serving may drop attachments: the long way, on a copy.
		parents := a.parentResults(t.world.ctx)
		t.dropCrossServing(info, parents)
		c := t.compileHTTPRouteMemo(info, r, prev)
		rec.compiled = c
		t.serveHTTPLike(r, parents, c.matches)
		t.routeStatus(info, parents, c.report)
		return
	}
	c := t.compileHTTPRouteMemo(info, r, prev)
	rec.compiled = c
	for _, p := range a.parents {
		if !p.problem.ok() {
			continue
		}
		for _, x := range p.attachments {
			l := t.world.ctx[x.listener]
			for _, d := range x.domains {
				l.http = append(l.http, t.newHTTPAttachment(r, d, c.matches))
			}
		}
	}
	if a.status == nil || a.report != c.report {
		st := t.renderRouteStatus(info, a.parentResults(t.world.ctx), c.report)
		a.report, a.status = c.report, &st
	}
	t.statuses.Routes = append(t.statuses.Routes, *a.status)
}

// attachHTTPRouteAfresh attaches r and returns its attachment (with, unless
// cross serving changed it, its status) and compilation for the next
// translation.
func (t *translator) attachHTTPRouteAfresh(info routeInfo, r *gwv1.HTTPRoute, prev *httpRouteMemo) (*attachedHTTPRoute, *compiledHTTPRoute) {
	parents := t.attach(info)
	rec := t.recordAttachment(info, r, parents)
	if len(parents) == 0 {
		return rec, nil
	}
	dropped := len(t.crossLosers) > 0
	t.dropCrossServing(info, parents)
	c := t.compileHTTPRouteMemo(info, r, prev)
	t.serveHTTPLike(r, parents, c.matches)
	st := t.renderRouteStatus(info, parents, c.report)
	t.statuses.Routes = append(t.statuses.Routes, st)
	if rec != nil && !dropped {
		rec.report, rec.status = c.report, &st
	}
	return rec, c
}

// recordAttachment keeps parents (before cross serving) for the next
// translation, unless a listener is not in the world (then nil).
func (t *translator) recordAttachment(info routeInfo, r *gwv1.HTTPRoute, parents []parentResult) *attachedHTTPRoute {
	rec := &attachedHTTPRoute{generation: r.Generation, key: info.key()}
	for _, p := range parents {
		ap := attachedParent{ref: p.ref, problem: p.problem}
		for _, a := range p.attachments {
			i, ok := t.world.pos[a.listener]
			if !ok {
				return nil
			}
			ap.attachments = append(ap.attachments, attachedListener{listener: i, domains: a.domains})
			if !slices.Contains(rec.listeners, i) {
				rec.listeners = append(rec.listeners, i)
			}
		}
		rec.parents = append(rec.parents, ap)
	}
	return rec
}

// parentResults are the recorded parents on this translation's listeners.
func (a *attachedHTTPRoute) parentResults(ctx []*listenerCtx) []parentResult {
	out := make([]parentResult, len(a.parents))
	for i, p := range a.parents {
		out[i] = parentResult{ref: p.ref, problem: p.problem}
		for _, x := range p.attachments {
			out[i].attachments = append(out[i].attachments, attachment{listener: ctx[x.listener], domains: x.domains})
		}
	}
	return out
}
