package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// compilations, in the same order, is the previous translation's, and a
// route table whose listeners and attachment domains are as before keeps
// its domains and the attachments covering each (memo_table.go). One level up (memo_attach.go), the attachment of an
// HTTPRoute of the same UID and generation (the listeners and domains its
// parentRefs reach) is reused while the listener world it was computed
// in (Gateways, ListenerSets, their listeners, Namespace labels when
// selected) is unchanged, and its status with it while its compilation
// is reused. The routes' records are kept in the Snapshot's order and
// found by a walk beside the next Snapshot's routes, and the replay is
// skipped while every object a resolution reads is the previous
// Snapshot's (memo_routes.go): so a Snapshot's objects must not be written
// once translated, as the Kubernetes source's are not. Routes without a
// UID or generation (files, hand-built Snapshots) are always attached and
// compiled afresh. A compilation reads
// the route's name, namespace and spec, nothing else of it.
//
// A Translator is not safe for concurrent use; its zero value is ready.
type Translator struct {
	// routes are the HTTPRoutes of the last translation that went through
	// the memo, in the Snapshot's order (memo_routes.go); spare is the
	// list of the one before, whose array the next translation refills.
	routes, spare []httpRouteMemo
	// prev is the last translated Snapshot (its lists, not its objects):
	// the next one's dependencies are compared with it (memo_routes.go).
	prev *snapshot.Snapshot
	// tables are the route tables of the last translation by name
	// (memo_table.go).
	tables memoMap[string, *routeTableMemo]
	world  *listenerWorld
	// attachedSizes are the numbers of routes attached to each listener
	// of the world after the HTTPRoutes of the last translation, by
	// position (memo_attach.go).
	attachedSizes []int
	// Reused and Compiled count the HTTPRoutes of the last translation
	// whose compiled rules were reused and compiled, AttachReused those
	// whose attachment was reused, and FastReused the reused compilations
	// taken without replaying their backend resolutions, as every object
	// they depend on was the previous translation's (tests, benchmarks).
	Reused, Compiled, AttachReused, FastReused int
}

// compiledHTTPRoute is the compilation of one generation of an HTTPRoute.
type compiledHTTPRoute struct {
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
	m.Reused, m.Compiled, m.FastReused = 0, 0, 0
	t.beginRouteMemo()
	t.tablesPrev = m.tables.renew()
	return t.translate()
}

// memoMap holds the entries of the last translation (cur) and, to be
// cleared and refilled by the next one, the map of the one before
// (spare): a translation at thousands of routes then grows no map.
type memoMap[K comparable, V any] struct{ cur, spare map[K]V }

// renew starts a translation: it returns the last translation's entries
// and makes cur an empty map for this one's.
func (m *memoMap[K, V]) renew() (prev map[K]V) {
	prev = m.cur
	next := m.spare
	if next == nil {
		next = make(map[K]V, len(prev))
	} else {
		clear(next)
	}
	m.cur, m.spare = next, prev
	return prev
}

// compileHTTPRouteMemo is compileHTTPRoute through the Translator (r has
// a UID and a generation; prev is the previous translation's record of
// the same object, or nil): the previous compilation of the same
// generation when its backend resolutions give the same results, else a
// new one. When every object a resolution reads is the previous
// translation's (dependenciesSame), they give the same results without
// being replayed; only the clusters they created are made again
// (ensureClusters).
func (t *translator) compileHTTPRouteMemo(info routeInfo, r *gwv1.HTTPRoute, prev *httpRouteMemo) *compiledHTTPRoute {
	if prev != nil && prev.compiled != nil && prev.compiled.generation == r.Generation {
		c := prev.compiled
		if t.depsSame {
			t.ensureClusters(c.calls)
			t.memo.Reused++
			t.memo.FastReused++
			return c
		}
		if t.replay(c.calls) {
			t.memo.Reused++
			return c
		}
	}
	rec := &compiledHTTPRoute{generation: r.Generation}
	t.recording = rec
	matches, report := t.compileHTTPRoute(info, r)
	t.recording = nil
	// The matches point at the route's identity, not at r: precedence
	// compares routes by identity and reads only their creation time,
	// namespace and name, which a UID never changes; and r would keep this
	// Snapshot's copy of the route alive as long as the route does not
	// change. So the matches serve every later translation as they are.
	id := &metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name, CreationTimestamp: r.CreationTimestamp}
	for _, m := range matches {
		m.route = id
	}
	rec.matches, rec.report = matches, report
	t.memo.Compiled++
	return rec
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

// ensureClusters makes the clusters of recorded backend resolutions that
// this translation has not made yet, by making the resolution again (the
// first one to need a cluster in Translate makes it, from this
// translation's Services and EndpointSlices). It is replay without the
// check, for resolutions known to give their recorded results.
func (t *translator) ensureClusters(calls []backendCall) {
	for _, c := range calls {
		if c.cluster == "" {
			continue
		}
		if _, ok := t.clusters[c.cluster]; !ok {
			t.resolveBackendRef(c.from, c.ref, c.field)
		}
	}
}
