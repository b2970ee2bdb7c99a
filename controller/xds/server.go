package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/edgeway/edgeway/controller/ir"
)

// Server publishes one IR per data plane node over ADS (State of the World
// and Delta) from go-control-plane's snapshot cache.
type Server struct {
	log   *slog.Logger
	cache cache.SnapshotCache
	xds   server.Server

	// mu serializes Update/Remove so that "previous versions" and the
	// cache's snapshot move together.
	mu       sync.Mutex
	versions map[string]map[resource.Type]string // node -> type -> version
	vhosts   map[string]vhostReuse               // node -> its published virtual hosts
	// validated are the IRs last published, as ir.ValidateFrom records
	// them: the next validation spares their unchanged virtual hosts.
	validated map[string]*ir.Validated

	acks *ackTracker // what each node's data planes applied (acks.go)
}

// Option configures a Server.
type Option func(*serverOptions)

type serverOptions struct {
	callbacks server.Callbacks
}

// WithCallbacks observes every stream event (tests, metrics). The callbacks
// see requests exactly as data planes sent them.
func WithCallbacks(cb server.Callbacks) Option {
	return func(o *serverOptions) { o.callbacks = cb }
}

// NewServer returns a Server with no snapshots; a data plane that connects
// before its node's first Update waits until then.
func NewServer(log *slog.Logger, opts ...Option) *Server {
	if log == nil {
		log = slog.Default()
	}
	o := serverOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	// ads=true: responses are held back until the snapshot is complete and
	// sent in a stable type order over the one stream.
	c := cache.NewSnapshotCache(true, cache.IDHash{}, cacheLogger{log})
	acks := newAckTracker()
	return &Server{
		log:       log,
		cache:     c,
		xds:       server.NewServer(context.Background(), c, newStreamCallbacks(log, o.callbacks, acks)),
		versions:  map[string]map[resource.Type]string{},
		vhosts:    map[string]vhostReuse{},
		validated: map[string]*ir.Validated{},
		acks:      acks,
	}
}

// Update validates and translates x and publishes it to the data planes of
// nodeID. Each type's version is a hash of its content (see contentVersion),
// so only the types that changed are pushed. On any error nothing is
// published: the node keeps its previous snapshot and the error says why.
func (s *Server) Update(nodeID string, x *ir.IR) error {
	if nodeID == "" {
		return errors.New("xds: update: empty node id")
	}
	s.mu.Lock()
	prevVHosts, prevValid := s.vhosts[nodeID], s.validated[nodeID]
	s.mu.Unlock()
	valid, err := x.ValidateFrom(prevValid)
	if err != nil {
		return fmt.Errorf("xds: node %q: invalid IR (previous config kept): %w", nodeID, err)
	}
	res, nextVHosts, err := translateReusing(x, prevVHosts)
	if err != nil {
		return fmt.Errorf("xds: node %q: translation failed (previous config kept): %w", nodeID, err)
	}
	snap, versions, err := newSnapshot(res, nextVHosts)
	if err != nil {
		return fmt.Errorf("xds: node %q: %w (previous config kept)", nodeID, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	prev, prevErr := s.cache.GetSnapshot(nodeID)
	if err := s.cache.SetSnapshot(context.Background(), nodeID, snap); err != nil {
		// SetSnapshot stores before it answers watches; put the previous
		// snapshot back so the node keeps a known state.
		if prevErr == nil {
			_ = s.cache.SetSnapshot(context.Background(), nodeID, prev)
		} else {
			s.cache.ClearSnapshot(nodeID)
		}
		return fmt.Errorf("xds: node %q: publishing snapshot (previous config kept): %w", nodeID, err)
	}
	var changed []string
	for _, typ := range Types {
		if s.versions[nodeID][typ] != versions[typ] {
			changed = append(changed, typeName(typ))
		}
	}
	s.versions[nodeID] = versions
	s.vhosts[nodeID] = nextVHosts
	s.validated[nodeID] = valid
	s.log.Info("xds snapshot published", "node", nodeID, "changed", changed,
		"listeners", len(res[resource.ListenerType]), "routes", len(res[resource.RouteType]),
		"clusters", len(res[resource.ClusterType]), "endpoints", len(res[resource.EndpointType]),
		"secrets", len(res[resource.SecretType]))
	return nil
}

// newSnapshot builds a consistent snapshot with one content version per type.
// vhosts are the translation's virtual hosts, whose missing wire forms
// contentVersion records.
func newSnapshot(res map[resource.Type][]types.Resource, vhosts vhostReuse) (*cache.Snapshot, map[resource.Type]string, error) {
	snap := &cache.Snapshot{}
	versions := map[resource.Type]string{}
	for _, typ := range Types {
		v, err := contentVersion(typ, res[typ], vhosts)
		if err != nil {
			return nil, nil, err
		}
		versions[typ] = v
		published := res[typ]
		if typ == resource.RouteType {
			if published, err = preEncodedRouteConfigurations(published, vhosts); err != nil {
				return nil, nil, err
			}
		}
		snap.Resources[cache.GetResponseType(typ)] = cache.NewResources(v, published)
	}
	if err := snap.Consistent(); err != nil {
		return nil, nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return snap, versions, nil
}

// Remove forgets nodeID's snapshot (its Gateway is gone). Connected data
// planes of that node keep their last config and get nothing new.
func (s *Server) Remove(nodeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache.ClearSnapshot(nodeID)
	delete(s.versions, nodeID)
	delete(s.vhosts, nodeID)
	delete(s.validated, nodeID)
	s.acks.forget(nodeID)
	s.log.Info("xds snapshot removed", "node", nodeID)
}

// Versions returns the published version of each type URL for nodeID (nil if
// nothing was published).
func (s *Server) Versions(nodeID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.versions[nodeID] == nil {
		return nil
	}
	return maps.Clone(s.versions[nodeID])
}

// Register adds the Aggregated Discovery Service (StreamAggregatedResources
// and DeltaAggregatedResources) to g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Serve serves ADS on lis until ctx is done, then stops and returns nil.
// The stop is not graceful: ADS streams never end on their own, and data
// planes keep their config and reconnect.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	g := grpc.NewServer(opts...)
	s.Register(g)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	s.log.Info("xds server listening", "address", lis.Addr().String())
	select {
	case <-ctx.Done():
		g.Stop()
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}
