package xds

import (
	"context"
	"log/slog"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// streamCallbacks logs stream lifecycle and NACKs, stops NACK loops, and
// forwards every event to the caller's callbacks (if any) unchanged.
//
// The NACK loop: a State-of-the-World NACK carries the previously accepted
// version_info. The snapshot cache compares that with the snapshot's version,
// sees a difference and immediately sends the rejected resources again, which
// the data plane rejects again, forever. The fix is to remember, per stream
// and type, the version of the last response sent; when a request NACKs that
// response (same nonce, error_detail set), the request is treated as being at
// that version, so the cache waits for the next change of that type.
type streamCallbacks struct {
	log  *slog.Logger
	next server.Callbacks // may be nil

	mu   sync.Mutex
	sent map[streamType]sentResponse

	acks *ackTracker // records what data planes applied (acks.go)
}

type streamType struct {
	stream  int64
	typeURL string
}

type sentResponse struct {
	nonce, version string
}

var _ server.Callbacks = (*streamCallbacks)(nil)

func newStreamCallbacks(log *slog.Logger, next server.Callbacks, acks *ackTracker) *streamCallbacks {
	return &streamCallbacks{log: log, next: next, sent: map[streamType]sentResponse{}, acks: acks}
}

func (c *streamCallbacks) OnStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.log.Debug("xds stream opened", "stream", id, "type", typeURL)
	if c.next != nil {
		return c.next.OnStreamOpen(ctx, id, typeURL)
	}
	return nil
}

func (c *streamCallbacks) OnStreamClosed(id int64, node *corev3.Node) {
	c.log.Info("xds stream closed", "stream", id, "node", node.GetId())
	c.mu.Lock()
	for k := range c.sent {
		if k.stream == id {
			delete(c.sent, k)
		}
	}
	c.mu.Unlock()
	if c.next != nil {
		c.next.OnStreamClosed(id, node)
	}
}

func (c *streamCallbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if c.next != nil {
		// The caller sees the request as the data plane sent it.
		if err := c.next.OnStreamRequest(id, req); err != nil {
			return err
		}
	}
	c.acks.sotwRequest(req) // before a NACK's version_info is rewritten below
	key := streamType{id, req.GetTypeUrl()}
	c.mu.Lock()
	last, ok := c.sent[key]
	c.mu.Unlock()
	switch {
	case req.GetErrorDetail() != nil:
		c.log.Warn("data plane rejected xDS config",
			"stream", id, "node", req.GetNode().GetId(), "type", req.GetTypeUrl(),
			"nonce", req.GetResponseNonce(), "acceptedVersion", req.GetVersionInfo(),
			"error", req.GetErrorDetail().GetMessage())
		if ok && last.nonce == req.GetResponseNonce() {
			req.VersionInfo = last.version
		}
	case req.GetResponseNonce() == "":
		c.log.Info("xds subscription", "stream", id, "node", req.GetNode().GetId(),
			"type", req.GetTypeUrl(), "version", req.GetVersionInfo(), "resources", req.GetResourceNames())
	default:
		c.log.Debug("xds ack", "stream", id, "node", req.GetNode().GetId(),
			"type", req.GetTypeUrl(), "version", req.GetVersionInfo(), "nonce", req.GetResponseNonce())
	}
	return nil
}

func (c *streamCallbacks) OnStreamResponse(ctx context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.mu.Lock()
	c.sent[streamType{id, resp.GetTypeUrl()}] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
	c.mu.Unlock()
	c.log.Debug("xds response", "stream", id, "node", req.GetNode().GetId(), "type", resp.GetTypeUrl(),
		"version", resp.GetVersionInfo(), "nonce", resp.GetNonce(), "resources", len(resp.GetResources()))
	if c.next != nil {
		c.next.OnStreamResponse(ctx, id, req, resp)
	}
}

// Delta and REST are served as go-control-plane does; Delta has no NACK
// loop (it tracks per-resource versions), so these only forward.

func (c *streamCallbacks) OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.log.Debug("xds delta stream opened", "stream", id, "type", typeURL)
	if c.next != nil {
		return c.next.OnDeltaStreamOpen(ctx, id, typeURL)
	}
	return nil
}

func (c *streamCallbacks) OnDeltaStreamClosed(id int64, node *corev3.Node) {
	c.log.Info("xds delta stream closed", "stream", id, "node", node.GetId())
	c.acks.deltaClosed(id)
	if c.next != nil {
		c.next.OnDeltaStreamClosed(id, node)
	}
}

func (c *streamCallbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	c.acks.deltaRequest(id, req)
	if req.GetErrorDetail() != nil {
		c.log.Warn("data plane rejected xDS config (delta)", "stream", id, "node", req.GetNode().GetId(),
			"type", req.GetTypeUrl(), "nonce", req.GetResponseNonce(), "error", req.GetErrorDetail().GetMessage())
	}
	if c.next != nil {
		return c.next.OnStreamDeltaRequest(id, req)
	}
	return nil
}

func (c *streamCallbacks) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.acks.deltaResponse(id, resp)
	if c.next != nil {
		c.next.OnStreamDeltaResponse(id, req, resp)
	}
}

func (c *streamCallbacks) OnFetchRequest(ctx context.Context, req *discoveryv3.DiscoveryRequest) error {
	if c.next != nil {
		return c.next.OnFetchRequest(ctx, req)
	}
	return nil
}

func (c *streamCallbacks) OnFetchResponse(req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	if c.next != nil {
		c.next.OnFetchResponse(req, resp)
	}
}
