// Package xdsclient is the data plane's ADS client (State of the World): it
// subscribes to CDS, EDS, LDS, RDS and SDS over one stream, hands every
// decoded response to a config.Handler as a complete candidate state, ACKs
// what the handler accepts, NACKs what it rejects (keeping the previous
// resources of that type), and reconnects with backoff when the stream
// breaks, never dropping the state it already has.
package xdsclient

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeway/edgeway/dataplane/config"
)

// Client is one data plane's connection to the xDS server.
type Client struct {
	addr    string
	nodeID  string
	handler config.Handler
	log     *slog.Logger
	opts    options
	// routes decodes route configurations, reusing the virtual hosts of
	// the last response that are unchanged; only Run's goroutine uses it.
	routes config.RouteDecoder

	// mu guards everything below; Run's goroutine is the only writer of
	// resources and versions, Stats may be called from anywhere.
	mu        sync.Mutex
	resources config.Resources  // last accepted resources of every type
	versions  map[string]string // type URL -> last accepted version_info
	// resourceVersions: type URL -> resource name -> version, the
	// accepted resources of incremental xDS (delta.go).
	resourceVersions map[string]map[string]string
	stats            Stats
	// endSession cancels the stream Run has open (nil between streams);
	// resyncing says Resync did, so Run reconnects at once.
	endSession context.CancelFunc
	resyncing  bool
}

// Stats is a point-in-time view of the client.
type Stats struct {
	// Connected is true while an ADS stream is open.
	Connected bool
	// Accepted counts responses the handler accepted (and that were ACKed).
	Accepted uint64
	// NACKs counts responses that were rejected, by the handler or because
	// they could not be decoded.
	NACKs uint64
	// Reconnects counts streams opened after the first one.
	Reconnects uint64
	// AcceptedByType and NACKsByType split Accepted and NACKs by type URL.
	AcceptedByType map[string]uint64
	NACKsByType    map[string]uint64
	// Versions maps each type URL to its last accepted version_info.
	Versions map[string]string
	// LastError is the last rejection or stream error, "" if none yet.
	LastError string
	// Rejected holds, per type URL, the last response the handler rejected,
	// until a later response of that type is accepted: the version the
	// server sent that is not in force, and why.
	Rejected map[string]Rejection
}

// Rejection is one rejected response: its version (version_info, or a
// delta response's system_version_info) and the reason sent in the NACK.
type Rejection struct {
	Version string
	Error   string
}

// Option configures a Client.
type Option func(*options)

type options struct {
	dialOptions []grpc.DialOption
	minBackoff  time.Duration
	maxBackoff  time.Duration
	delta       bool // incremental xDS (WithDelta)
	onResult    func()
}

// WithDialOptions adds gRPC dial options (credentials, interceptors, a
// custom dialer). Without transport credentials the connection is plaintext.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// WithDialer makes the client reach the server through dial instead of TCP,
// e.g. an in-process pipe; addr is passed to dial unchanged.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return WithDialOptions(grpc.WithContextDialer(dial))
}

// WithBackoff sets the reconnect delay range (default 100ms to 10s): the
// delay doubles per failed attempt up to max, with jitter.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = minDelay, maxDelay }
}

// WithOnResult calls fn after each response has been accepted or rejected
// and Stats shows it, before the ACK or NACK is sent; on the stream's
// goroutine, so fn must return quickly.
func WithOnResult(fn func()) Option {
	return func(o *options) { o.onResult = fn }
}

// New returns a client that will connect to addr ("host:port") as nodeID
// and deliver configuration to h. Nothing happens until Run.
func New(addr, nodeID string, h config.Handler, log *slog.Logger, opts ...Option) *Client {
	if log == nil {
		log = slog.Default()
	}
	o := options{minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return &Client{
		addr:             addr,
		nodeID:           nodeID,
		handler:          h,
		log:              log.With("server", addr, "node", nodeID),
		opts:             o,
		versions:         map[string]string{},
		resourceVersions: map[string]map[string]string{},
		stats:            Stats{AcceptedByType: map[string]uint64{}, NACKsByType: map[string]uint64{}, Rejected: map[string]Rejection{}},
	}
}

// Stats returns the client's counters and accepted versions.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Versions = maps.Clone(c.versions)
	s.AcceptedByType = maps.Clone(c.stats.AcceptedByType)
	s.NACKsByType = maps.Clone(c.stats.NACKsByType)
	s.Rejected = maps.Clone(c.stats.Rejected)
	return s
}

// Run connects and serves until ctx is done, then returns nil. Stream and
// connection failures are logged and retried with backoff; the handler keeps
// serving the last accepted configuration meanwhile. It returns an error only
// for a configuration that can never work (an unusable address or options).
// Run must not be called more than once at a time.
func (c *Client) Run(ctx context.Context) error {
	b := newBackoff(c.opts.minBackoff, c.opts.maxBackoff)
	for attempt := 0; ; attempt++ {
		session := c.session
		if c.opts.delta {
			session = c.deltaSession
		}
		sessionCtx, endSession := context.WithCancel(ctx)
		c.mu.Lock()
		c.endSession = endSession
		c.mu.Unlock()
		healthy, err := session(sessionCtx, attempt > 0)
		c.mu.Lock()
		resync := c.resyncing
		c.endSession, c.resyncing = nil, false
		c.mu.Unlock()
		endSession()
		if ctx.Err() != nil {
			return nil
		}
		if resync {
			c.log.Info("xds stream restarted to ask again for every version not in force")
			b.reset()
			continue
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if healthy {
			// The stream worked for a while: start over from the shortest
			// delay instead of punishing a long-lived stream's end.
			b.reset()
		}
		delay := b.next()
		c.recordError(err)
		c.log.Warn("xds stream ended, reconnecting", "error", err, "in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// fatalError marks errors retrying cannot fix.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }

// Resync ends the current stream; Run opens a new one at once, on which
// the server sends again every version the handler has not accepted. A
// configuration the handler refused for a cause outside it (a port another
// process held, since freed) is thus tried again without a new version.
func (c *Client) Resync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endSession != nil {
		c.resyncing = true
		c.endSession()
	}
}

// handled tells the WithOnResult observer that a response was handled.
func (c *Client) handled() {
	if c.opts.onResult != nil {
		c.opts.onResult()
	}
}

func (c *Client) recordError(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.stats.LastError = err.Error()
	c.mu.Unlock()
}

func (c *Client) setConnected(connected, reconnect bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Connected = connected
	if connected && reconnect {
		c.stats.Reconnects++
	}
}

// dialOptions puts plaintext first so that credentials passed by the caller
// win (gRPC applies options in order).
func (c *Client) dialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.opts.dialOptions...)
}
