package gatewayapi

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// Translator translates one Snapshot after another, as the Kubernetes
// source does after every change, and returns exactly what Translate
// returns for each (TestTranslatorEqualsTranslate), doing less work for
// what did not change since the previous Snapshot: the rules of an
// HTTPRoute whose spec is the same (UID and generation, as the API server
// sets them; not the resourceVersion, which every status write changes)
// are compiled once and reused, as long as the same
// backend resolutions, replayed in the new Snapshot, give the same
// clusters and problems (the only input of a rule's compilation besides
// the route itself); a virtual host whose routes all come from reused
// compilations, in the same order, is the previous translation's (see
// virtualHost). Routes without a UID or generation (files, hand-built
// Snapshots) are always compiled afresh. A compilation reads the route's
// name, namespace and spec, nothing else of it.
//
// A Translator is not safe for concurrent use; its zero value is ready.
type Translator struct {
	routes map[string]*compiledHTTPRoute // by "<ns>/<name>", of the last translation
	vhosts map[vhostKey]builtVHost       // of the last translation
	// Reused and Compiled count the HTTPRoutes of the last translation
	// whose compiled rules were reused and compiled (tests, benchmarks).
	Reused, Compiled int
}

// compiledHTTPRoute is the compilation of one generation of an HTTPRoute.
type compiledHTTPRoute struct {
	uid        types.UID
	generation int64
	matches    []*httpMatch
	report     *ruleReport
	// calls are the backend resolutions the compilation made, in order:
	// a function of the route alone, so a compilation of the same route
	// makes the same calls (their results aside).
	calls []backendCall
}

// backendCall is one resolveBackend call and its result.
type backendCall struct {
	from    objRef
	ref     gwv1.BackendObjectReference
	field   string
	cluster string
	problem problem
}

// Translate translates snap; the result equals Translate(snap).
func (m *Translator) Translate(snap *snapshot.Snapshot) (*ir.IR, *Statuses) {
	t := newTranslator(snap)
	t.memo = m
	prev := m.routes
	m.routes = make(map[string]*compiledHTTPRoute, len(prev))
	m.Reused, m.Compiled = 0, 0
	t.memoPrev = prev
	t.vhostsPrev = m.vhosts
	m.vhosts = make(map[vhostKey]builtVHost, len(m.vhosts))
	return t.translate()
}

// vhostKey names a virtual host: its route table and domain.
type vhostKey struct{ routeTable, domain string }

// builtVHost is a virtual host as built, and the compiled templates its
// routes are clones of, in order.
type builtVHost struct {
	templates []*ir.Route
	vh        *ir.VirtualHost
}

// virtualHost is the virtual host of domain d in route table rt serving
// clones of templates. Templates are never written and are kept alive by
// the Translator, so the same pointers in the same order mean the same
// routes: the previous translation's virtual host is then equal to a new
// one. Nothing writes a virtual host once built (addHTTP01Routes copies
// the ones it adds to), so sharing it is safe.
func (t *translator) virtualHost(rt, d string, templates []*ir.Route) *ir.VirtualHost {
	k := vhostKey{rt, d}
	if t.memo != nil {
		if prev, ok := t.vhostsPrev[k]; ok && slices.Equal(prev.templates, templates) {
			t.memo.vhosts[k] = prev
			return prev.vh
		}
	}
	vh := &ir.VirtualHost{Name: d, Domains: []string{d}}
	for _, r := range templates {
		vh.Routes = append(vh.Routes, cloneRoute(r))
	}
	if t.memo != nil {
		t.memo.vhosts[k] = builtVHost{templates: templates, vh: vh}
	}
	return vh
}

// compileHTTPRouteMemo is compileHTTPRoute through the Translator, if any:
// the previous compilation of the same object when its backend resolutions
// replay to the same results, else a new one, recorded for the next.
func (t *translator) compileHTTPRouteMemo(info routeInfo, r *gwv1.HTTPRoute) ([]*httpMatch, *ruleReport) {
	if t.memo == nil || r.UID == "" || r.Generation == 0 {
		return t.compileHTTPRoute(info, r)
	}
	k := key(r.Namespace, r.Name)
	if prev := t.memoPrev[k]; prev != nil && prev.uid == r.UID && prev.generation == r.Generation && t.replay(prev.calls) {
		t.memo.routes[k] = prev
		t.memo.Reused++
		return rebind(prev.matches, r), prev.report
	}
	rec := &compiledHTTPRoute{uid: r.UID, generation: r.Generation}
	t.recording = rec
	matches, report := t.compileHTTPRoute(info, r)
	t.recording = nil
	// The memo's copy does not point at r: it would keep this Snapshot's
	// copy of the route alive as long as the route does not change.
	rec.matches, rec.report = rebind(matches, nil), report
	t.memo.routes[k] = rec
	t.memo.Compiled++
	return matches, report
}

// replay makes the recorded backend resolutions in this translation (with
// their side effects: the clusters they create) and reports whether each
// gives its recorded result. A compilation after a failed replay makes
// the same calls again, which then return what they returned here.
func (t *translator) replay(calls []backendCall) bool {
	for _, c := range calls {
		cluster, p := t.resolveBackendRef(c.from, c.ref, c.field)
		if cluster != c.cluster || p != c.problem {
			return false
		}
	}
	return true
}

// rebind copies matches compiled from another copy of r (the same
// generation) to point at r, which precedence compares by identity
// (nil: at no route, for keeping).
// The IR route templates are shared: nothing writes them after
// compilation (buildRouteTable clones them into the IR).
func rebind(matches []*httpMatch, r *gwv1.HTTPRoute) []*httpMatch {
	out := make([]*httpMatch, len(matches))
	backing := make([]httpMatch, len(matches))
	for i, m := range matches {
		backing[i] = *m
		backing[i].route = r
		out[i] = &backing[i]
	}
	return out
}
