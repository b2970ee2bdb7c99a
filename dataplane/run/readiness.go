package run

import (
	"sync/atomic"

	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// readiness is /ready of the data plane: ready once the data plane has
// applied a complete, consistent configuration (every reference resolved)
// after accepting and ACKing a response of every xDS type. Before that a
// load balancer must not send traffic: part of the configuration may still
// be missing (a listener whose routes have not arrived answers nothing
// useful).
//
// Once ready it stays ready (until draining), as Envoy's LIVE state does: a
// later update that is NACKed or momentarily incomplete leaves the last
// good configuration serving, and revoking readiness then would take every
// replica out of its load balancer at once on one bad push.
type readiness struct{ latched atomic.Bool }

// check reports readiness and, when not ready, why.
func (r *readiness) check(st xdsclient.Stats, serving bool) (bool, string) {
	if r.latched.Load() {
		return true, ""
	}
	switch {
	case !st.AckedEveryType():
		return false, "waiting for an accepted response of every xDS type (CDS, EDS, LDS, RDS, SDS)"
	case !serving:
		return false, "the accepted configuration is incomplete: a referenced resource has not arrived yet"
	}
	r.latched.Store(true)
	return true, ""
}
