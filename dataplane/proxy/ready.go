package proxy

// Serving reports whether the proxy serves a configuration that is the
// whole of what it accepted: at least one configuration was swapped in,
// and the latest accepted candidate was complete (not waiting for a
// referenced resource of another type). Readiness (edgeway dataplane
// /ready) combines it with the xDS client's per-type ACKs.
func (p *Proxy) Serving() bool {
	return p.applied.Load() && !p.incomplete.Load()
}
