package ir

import (
	"strconv"
	"strings"
)

// loc is where in the IR a check is, e.g.
// routeTables["rt"].virtualHosts["vh"].routes[0].forward.backends. It is a
// chain of values on the validator's stack, rendered into a string only when
// a problem is reported: rendering every location up front cost an
// allocation per virtual host, route and field, most of Validate at
// thousands of routes.
type loc struct {
	up    *loc
	field string // appended to up's location, e.g. ".forward.backends"
	name  string // rendered as ["name"] when keyed
	index int    // rendered as [index] when indexed
	kind  locKind
}

type locKind uint8

const (
	locField locKind = iota
	locKeyed
	locIndexed
)

// root is the location of the IR itself: the first field names the list.
var root *loc

// f is the location of a field below l; field starts with "." except at
// the root.
func (l *loc) f(field string) *loc { return &loc{up: l, field: field} }

// key is the location of an element of a list keyed by name.
func (l *loc) key(field, key string) *loc {
	return &loc{up: l, field: field, name: key, kind: locKeyed}
}

// idx is the location of a list element by position.
func (l *loc) idx(field string, i int) *loc {
	return &loc{up: l, field: field, index: i, kind: locIndexed}
}

// String renders the location; only called for a problem's message.
func (l *loc) String() string {
	var b strings.Builder
	l.render(&b)
	return b.String()
}

func (l *loc) render(b *strings.Builder) {
	if l == nil {
		return
	}
	l.up.render(b)
	b.WriteString(l.field)
	switch l.kind {
	case locKeyed:
		b.WriteByte('[')
		b.WriteString(strconv.Quote(l.name))
		b.WriteByte(']')
	case locIndexed:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(l.index))
		b.WriteByte(']')
	}
}
