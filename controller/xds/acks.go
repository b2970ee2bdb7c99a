package xds

import (
	"maps"
	"slices"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// ackTracker records, per node, the version of each type its data planes
// last reported as applied: a SotW ACK (version_info of a request answering
// a nonce without error_detail), a SotW resubscription after a reconnect
// (version_info with no nonce: what the data plane still runs, which the
// cache will not re-send when it is current), or a Delta ACK (the
// system_version_info of the response whose nonce it answers).
//
// The latest report wins, whichever data plane Pod of the node sent it, and
// it is kept when the stream closes: a reconnect does not make a Gateway look
// unprogrammed. Versions are content hashes (version.go), so they compare
// across controller replicas. Only Remove forgets a node.
type ackTracker struct {
	mu        sync.Mutex
	acked     map[string]map[string]string // node -> type URL -> version
	deltaNode map[int64]string             // delta stream -> node id (sent only on the first request)
	deltaSent map[int64]map[string]string  // delta stream -> nonce -> system version
	observers []func(nodeID string)
}

func newAckTracker() *ackTracker {
	return &ackTracker{acked: map[string]map[string]string{}, deltaNode: map[int64]string{}, deltaSent: map[int64]map[string]string{}}
}

// sotwRequest records what a State-of-the-World request says was applied.
func (a *ackTracker) sotwRequest(req *discoveryv3.DiscoveryRequest) {
	if req.GetErrorDetail() != nil || req.GetVersionInfo() == "" {
		return // a NACK, or a first subscription with nothing applied yet
	}
	a.record(req.GetNode().GetId(), req.GetTypeUrl(), req.GetVersionInfo())
}

func (a *ackTracker) deltaResponse(stream int64, resp *discoveryv3.DeltaDiscoveryResponse) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deltaSent[stream] == nil {
		a.deltaSent[stream] = map[string]string{}
	}
	a.deltaSent[stream][resp.GetNonce()] = resp.GetSystemVersionInfo()
}

func (a *ackTracker) deltaRequest(stream int64, req *discoveryv3.DeltaDiscoveryRequest) {
	a.mu.Lock()
	if id := req.GetNode().GetId(); id != "" {
		a.deltaNode[stream] = id
	}
	node := a.deltaNode[stream]
	version, sent := a.deltaSent[stream][req.GetResponseNonce()]
	delete(a.deltaSent[stream], req.GetResponseNonce())
	a.mu.Unlock()
	if req.GetResponseNonce() == "" || !sent || req.GetErrorDetail() != nil || version == "" {
		return
	}
	a.record(node, req.GetTypeUrl(), version)
}

func (a *ackTracker) deltaClosed(stream int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.deltaNode, stream)
	delete(a.deltaSent, stream)
}

func (a *ackTracker) record(node, typeURL, version string) {
	if node == "" || typeURL == "" {
		return
	}
	a.mu.Lock()
	if a.acked[node] == nil {
		a.acked[node] = map[string]string{}
	}
	changed := a.acked[node][typeURL] != version
	a.acked[node][typeURL] = version
	observers := a.observers
	a.mu.Unlock()
	if changed {
		for _, fn := range observers {
			fn(node)
		}
	}
}

func (a *ackTracker) get(node string) map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acked[node] == nil {
		return nil
	}
	return maps.Clone(a.acked[node])
}

func (a *ackTracker) forget(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.acked, node)
}

func (a *ackTracker) observe(fn func(nodeID string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observers = append(a.observers, fn)
}

// Acked returns the version of each type URL that a data plane of nodeID
// last reported as applied (nil if none ever did). Compare it with
// Versions(nodeID) to tell whether the published config is in force.
func (s *Server) Acked(nodeID string) map[string]string { return s.acks.get(nodeID) }

// OnAcked calls fn (on the xDS stream's goroutine: return quickly) whenever
// the applied version of some type of a node changes.
func (s *Server) OnAcked(fn func(nodeID string)) { s.acks.observe(fn) }

// Nodes returns the node ids with a published snapshot, sorted.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.versions))
	for n := range s.versions {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
