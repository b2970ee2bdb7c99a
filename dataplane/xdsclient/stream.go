package xdsclient

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/edgeway/edgeway/dataplane/config"
)

// userAgent identifies the data plane in the Node of the first request.
const userAgent = "edgeway"

// session runs one ADS stream: connect, subscribe, then answer every
// response with an ACK or NACK until the stream fails. healthy reports
// whether at least one response arrived (the backoff then starts over).
func (c *Client) session(ctx context.Context, reconnect bool) (healthy bool, err error) {
	conn, err := grpc.NewClient(c.target(), c.dialOptions()...)
	if err != nil {
		return false, &fatalError{fmt.Errorf("xds client for %q: %w", c.addr, err)}
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Without WaitForReady this fails fast when the server is unreachable,
	// so the backoff below (not gRPC's) paces reconnects.
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return false, fmt.Errorf("opening ADS stream: %w", err)
	}
	c.setConnected(true, reconnect)
	defer c.setConnected(false, false)

	// Resubscribe with the last accepted versions: a server that still has
	// those need not send them again.
	c.mu.Lock()
	versions := maps.Clone(c.versions)
	c.mu.Unlock()
	c.log.Info("xds stream open", "reconnect", reconnect, "versions", versions)
	for i, typ := range subscriptions {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: versions[typ]}
		if i == 0 {
			// The node is only required on a stream's first request.
			req.Node = &corev3.Node{Id: c.nodeID, UserAgentName: userAgent}
		}
		if err := stream.Send(req); err != nil {
			return false, fmt.Errorf("subscribing to %s: %w", typ, err)
		}
	}

	for {
		resp, err := stream.Recv()
		if err != nil {
			return healthy, fmt.Errorf("receiving: %w", err)
		}
		healthy = true
		ack := c.handle(resp)
		c.handled()
		if err := stream.Send(ack); err != nil {
			return healthy, fmt.Errorf("sending ACK/NACK for %s: %w", resp.GetTypeUrl(), err)
		}
	}
}

// target makes a plain "host:port" bypass gRPC name resolution (the dialer,
// default or WithDialer, gets the address as given); explicit gRPC targets
// ("dns:///", "unix:") are used as they are.
func (c *Client) target() string {
	if strings.Contains(c.addr, "://") || strings.HasPrefix(c.addr, "unix:") {
		return c.addr
	}
	return "passthrough:///" + c.addr
}

// handle decodes one response, offers the candidate state to the handler
// and returns the ACK (version and nonce of the response) or the NACK
// (previous version, the nonce, INVALID_ARGUMENT and the reason).
func (c *Client) handle(resp *discoveryv3.DiscoveryResponse) *discoveryv3.DiscoveryRequest {
	typ := resp.GetTypeUrl()
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce()}

	c.mu.Lock()
	cur := c.resources
	c.mu.Unlock()

	next, err := candidate(cur, resp, &c.routes)
	if err == nil {
		err = c.apply(typ, next)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.stats.NACKs++
		c.stats.NACKsByType[typ]++
		c.stats.LastError = err.Error()
		c.stats.Rejected[typ] = Rejection{Version: resp.GetVersionInfo(), Error: err.Error()}
		req.VersionInfo = c.versions[typ]
		req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
		c.log.Warn("xds config rejected", "type", typ, "version", resp.GetVersionInfo(),
			"nonce", resp.GetNonce(), "keeping", c.versions[typ], "error", err)
		return req
	}
	c.resources = *next
	c.versions[typ] = resp.GetVersionInfo()
	delete(c.stats.Rejected, typ)
	c.stats.Accepted++
	c.stats.AcceptedByType[typ]++
	req.VersionInfo = resp.GetVersionInfo()
	c.log.Info("xds config accepted", "type", typ, "version", resp.GetVersionInfo(),
		"nonce", resp.GetNonce(), "resources", len(resp.GetResources()))
	return req
}

// apply calls the handler; a panic in it is a data plane bug, but it must
// not take the process down: it becomes a NACK and the old config stays.
func (c *Client) apply(typ string, next *config.Resources) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("config handler panicked", "type", typ, "panic", r)
			err = fmt.Errorf("internal error applying %s: %v", typ, r)
		}
	}()
	return c.handler.Apply(typ, next)
}
