package config

import listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

// listenerChecks remembers the listener messages of a Compiler's last
// successful compile: their fields were all checked then, and a message of
// Resources is read-only, so the same message needs no second walk over
// its fields (every update compiles every listener, and the walk over an
// HTTP connection manager's was most of a listener's compile). A nil
// *listenerChecks remembers nothing. Not safe for concurrent use.
type listenerChecks struct {
	last map[*listenerv3.Listener]bool
}

// checked reports whether l passed the field checks before.
func (c *listenerChecks) checked(l *listenerv3.Listener) bool {
	return c != nil && l != nil && c.last[l]
}

// record keeps the listeners of a successful compile.
func (c *listenerChecks) record(ls map[string]*listenerv3.Listener) {
	if c == nil {
		return
	}
	c.last = make(map[*listenerv3.Listener]bool, len(ls))
	for _, l := range ls {
		c.last[l] = true
	}
}
