package xdsclient

import (
	"context"
	"fmt"
	"maps"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// Incremental xDS (DeltaAggregatedResources): the same five wildcard
// subscriptions, but each response carries only the resources that changed
// and the names of those removed. The client applies them to its last
// accepted resources of that type and offers the result to the handler
// exactly as in SotW, so the handler cannot tell the two protocols apart.
// A NACK leaves the type's resources (and their versions) as they were.

// wildcard subscribes to every resource of a type (the explicit form; the
// legacy form, an empty first subscription, is also wildcard).
const wildcard = "*"

// WithDelta makes the client speak incremental xDS instead of State of the
// World.
func WithDelta() Option { return func(o *options) { o.delta = true } }

// deltaSession runs one DeltaAggregatedResources stream.
func (c *Client) deltaSession(ctx context.Context, reconnect bool) (healthy bool, err error) {
	conn, err := grpc.NewClient(c.target(), c.dialOptions()...)
	if err != nil {
		return false, &fatalError{fmt.Errorf("xds client for %q: %w", c.addr, err)}
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return false, fmt.Errorf("opening delta ADS stream: %w", err)
	}
	c.setConnected(true, reconnect)
	defer c.setConnected(false, false)

	// On a new stream the server knows nothing: tell it what we hold so
	// that it only sends what changed since (initial_resource_versions).
	c.mu.Lock()
	known := map[string]map[string]string{}
	for typ, vs := range c.resourceVersions {
		known[typ] = maps.Clone(vs)
	}
	c.mu.Unlock()
	c.log.Info("xds delta stream open", "reconnect", reconnect)
	for i, typ := range subscriptions {
		req := &discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:                 typ,
			ResourceNamesSubscribe:  []string{wildcard},
			InitialResourceVersions: known[typ],
		}
		if i == 0 {
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
		ack := c.handleDelta(resp)
		c.handled()
		if err := stream.Send(ack); err != nil {
			return healthy, fmt.Errorf("sending ACK/NACK for %s: %w", resp.GetTypeUrl(), err)
		}
	}
}

// handleDelta applies one incremental response to the last accepted
// resources of its type, offers the result to the handler and returns the
// ACK or NACK (with the reason in error_detail).
func (c *Client) handleDelta(resp *discoveryv3.DeltaDiscoveryResponse) *discoveryv3.DeltaDiscoveryRequest {
	typ := resp.GetTypeUrl()
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce()}

	c.mu.Lock()
	cur := c.resources
	c.mu.Unlock()

	next, err := deltaCandidate(cur, resp, &c.routes)
	if err == nil {
		err = c.apply(typ, next)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.stats.NACKs++
		c.stats.NACKsByType[typ]++
		c.stats.LastError = err.Error()
		c.stats.Rejected[typ] = Rejection{Version: resp.GetSystemVersionInfo(), Error: err.Error()}
		req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
		c.log.Warn("xds config rejected", "type", typ, "version", resp.GetSystemVersionInfo(),
			"nonce", resp.GetNonce(), "keeping", c.versions[typ], "error", err)
		return req
	}
	c.resources = *next
	vs := maps.Clone(c.resourceVersions[typ])
	if vs == nil {
		vs = map[string]string{}
	}
	for _, name := range resp.GetRemovedResources() {
		delete(vs, name)
	}
	for _, r := range resp.GetResources() {
		vs[r.GetName()] = r.GetVersion()
	}
	c.resourceVersions[typ] = vs
	c.versions[typ] = resp.GetSystemVersionInfo()
	delete(c.stats.Rejected, typ)
	c.stats.Accepted++
	c.stats.AcceptedByType[typ]++
	c.log.Info("xds config accepted", "type", typ, "version", resp.GetSystemVersionInfo(), "nonce", resp.GetNonce(),
		"updated", len(resp.GetResources()), "removed", len(resp.GetRemovedResources()))
	return req
}

// deltaCandidate returns cur with the response's resources of its type
// added or replaced and its removed names deleted. The type's map is a new
// map: the previous one may still be read by the handler's last config.
func deltaCandidate(cur config.Resources, resp *discoveryv3.DeltaDiscoveryResponse, routes *config.RouteDecoder) (*config.Resources, error) {
	typ := resp.GetTypeUrl()
	anys := make([]*anypb.Any, 0, len(resp.GetResources()))
	for i, r := range resp.GetResources() {
		if r.GetResource() == nil {
			return nil, fmt.Errorf("resources[%d] (%s) %q: no resource body (on-demand/TTL heartbeats are not supported)", i, typ, r.GetName())
		}
		anys = append(anys, r.GetResource())
	}
	next := cur
	var err error
	switch typ {
	case config.TypeCluster:
		next.Clusters, err = mergeDelta(typ, cur.Clusters, anys, resp, unmarshal[*clusterv3.Cluster], (*clusterv3.Cluster).GetName)
	case config.TypeEndpoint:
		next.Endpoints, err = mergeDelta(typ, cur.Endpoints, anys, resp, unmarshal[*endpointv3.ClusterLoadAssignment], (*endpointv3.ClusterLoadAssignment).GetClusterName)
	case config.TypeListener:
		next.Listeners, err = mergeDelta(typ, cur.Listeners, anys, resp, unmarshal[*listenerv3.Listener], (*listenerv3.Listener).GetName)
	case config.TypeRoute:
		next.Routes, next.RouteWire, err = mergeDeltaRoutes(cur, anys, resp, routes)
	case config.TypeSecret:
		next.Secrets, err = mergeDelta(typ, cur.Secrets, anys, resp, unmarshal[*tlsv3.Secret], (*tlsv3.Secret).GetName)
	default:
		return nil, fmt.Errorf("response type %q: not a type this data plane subscribes to", typ)
	}
	if err != nil {
		return nil, err
	}
	return &next, nil
}

func mergeDelta[T proto.Message](typ string, cur map[string]T, anys []*anypb.Any, resp *discoveryv3.DeltaDiscoveryResponse, decode func([]byte) (T, error), name func(T) string) (map[string]T, error) {
	updated, err := decodeAll(typ, anys, decode, name)
	if err != nil {
		return nil, err
	}
	for i, r := range resp.GetResources() {
		if r.GetName() != "" {
			if _, ok := updated[r.GetName()]; !ok {
				return nil, fmt.Errorf("resources[%d] (%s): resource name %q differs from the name in its body", i, typ, r.GetName())
			}
		}
	}
	out := make(map[string]T, len(cur)+len(updated))
	maps.Copy(out, cur)
	for _, n := range resp.GetRemovedResources() {
		delete(out, n)
	}
	maps.Copy(out, updated)
	return out, nil
}

// mergeDeltaRoutes is mergeDelta for route configurations, through routes,
// with the virtual hosts' wire forms of the merged ones
// (config.Resources.RouteWire).
func mergeDeltaRoutes(cur config.Resources, anys []*anypb.Any, resp *discoveryv3.DeltaDiscoveryResponse, routes *config.RouteDecoder) (map[string]*routev3.RouteConfiguration, map[*routev3.RouteConfiguration][]string, error) {
	defer routes.Done()
	updated := map[*routev3.RouteConfiguration][]string{}
	decode := func(b []byte) (*routev3.RouteConfiguration, error) {
		rc, w, err := routes.Decode(b)
		if w != nil {
			updated[rc] = w
		}
		return rc, err
	}
	out, err := mergeDelta(config.TypeRoute, cur.Routes, anys, resp, decode, (*routev3.RouteConfiguration).GetName)
	if err != nil {
		return nil, nil, err
	}
	wire := make(map[*routev3.RouteConfiguration][]string, len(out))
	for _, rc := range out {
		if w, ok := updated[rc]; ok {
			wire[rc] = w
		} else if w, ok := cur.RouteWire[rc]; ok {
			wire[rc] = w
		}
	}
	return out, wire, nil
}
