package config

import "net/http"

// HeaderMutation is a route's request or response header manipulation.
// Envoy removes first and then adds, so a header both removed and added ends
// up with the added value.
type HeaderMutation struct {
	Remove []string // canonical names
	Ops    []HeaderOp
}

// HeaderOp is one header to add (append) or set (overwrite).
type HeaderOp struct {
	Key       string // canonical
	Value     string
	Overwrite bool
}

// Empty reports whether the mutation does nothing.
func (m *HeaderMutation) Empty() bool { return len(m.Remove) == 0 && len(m.Ops) == 0 }

// Apply mutates h in place.
func (m *HeaderMutation) Apply(h http.Header) {
	for _, k := range m.Remove {
		delete(h, k)
	}
	for _, op := range m.Ops {
		if op.Overwrite {
			h[op.Key] = []string{op.Value}
		} else {
			h[op.Key] = append(h[op.Key], op.Value)
		}
	}
}
