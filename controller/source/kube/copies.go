package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// copyMemo keeps, for one kind, the deep copy a build made of each cached
// object, by UID, with the resourceVersion it was copied at. The informer
// cache's own objects are never handed out (an informer replaces them and
// other readers share them, so they must stay unwritten); deep-copying all
// of them on every build was the largest cost of a change of one object at
// scale. An object whose UID and resourceVersion are the ones of its last
// copy has the same content, so the copy is handed out again: only new and
// changed objects are copied. The price is that Snapshots share objects:
// nothing that reads a Snapshot may write into its objects (the Source's
// consumers are each held to that by a test).
type copyMemo[T any] struct {
	// byUID holds pointers, so that marking an entry seen is a write
	// through the one lookup, not a second map operation.
	byUID map[types.UID]*memoCopy[T]
	// build counts begin calls; an entry not seen in the current build is
	// an object that is gone (or no longer referenced), dropped by end.
	build uint64
	// seen counts the entries the current build saw: when it is all of
	// them, end has nothing to drop and does not walk the map.
	seen int
}

type memoCopy[T any] struct {
	resourceVersion string
	obj             *T
	seen            uint64
}

// begin starts a build.
func (m *copyMemo[T]) begin() {
	if m.byUID == nil {
		m.byUID = map[types.UID]*memoCopy[T]{}
	}
	m.build++
	m.seen = 0
}

// copyOf returns the copy of cached: the one made earlier when cached has
// the same UID and resourceVersion, else a new one made by deepCopy (which
// must not keep any part of cached). An object without a UID or
// resourceVersion (none comes from an API server) is copied every time.
func (m *copyMemo[T]) copyOf(cached metav1.Object, deepCopy func(metav1.Object) *T) *T {
	uid, rv := cached.GetUID(), cached.GetResourceVersion()
	if uid == "" || rv == "" {
		return deepCopy(cached)
	}
	e := m.byUID[uid]
	if e == nil {
		e = &memoCopy[T]{}
		m.byUID[uid] = e
	}
	if e.seen != m.build {
		e.seen = m.build
		m.seen++
	}
	if e.obj == nil || e.resourceVersion != rv {
		e.resourceVersion, e.obj = rv, deepCopy(cached)
	}
	return e.obj
}

// end drops the copies of objects this build did not see, so that a
// deleted object's copy is not kept (and a recreated one, with a new UID,
// is copied afresh).
func (m *copyMemo[T]) end() {
	if m.seen == len(m.byUID) {
		return
	}
	for uid, e := range m.byUID {
		if e.seen != m.build {
			delete(m.byUID, uid)
		}
	}
}
