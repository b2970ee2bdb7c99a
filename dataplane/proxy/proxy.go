package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/metrics"
)

// Proxy implements config.Handler.
type Proxy struct {
	log      *slog.Logger
	errLog   *log.Logger // net/http and httputil diagnostics, at debug level
	bufPool  bufferPool  // copy buffers shared by all forwarded requests
	resolver *net.Resolver

	// Operations (options.go): all optional, fixed after New.
	metrics   *metrics.Metrics
	accessLog *accesslog.Logger
	limits    Limits

	state atomic.Pointer[state] // what every new request and connection reads

	// compiler keeps the compiled virtual hosts of the last update, so an
	// update recompiles only those whose xDS message changed.
	compiler config.Compiler

	// applied: a configuration was swapped in; incomplete: the latest
	// accepted candidate still misses a referenced resource, so the one
	// served is older (ready.go).
	applied, incomplete atomic.Bool

	mu         sync.Mutex // serialises Apply, Shutdown and socket bookkeeping
	closed     bool
	sockets    map[string]*socket // by bound address (host:port as configured)
	transports map[string]*clusterTransport
	udp        map[string]*udpSocket // UDP listeners by socketKey

	tcpMu     sync.Mutex
	tcpClosed bool
	tcpConns  map[net.Conn]struct{}
	tcpWG     sync.WaitGroup

	drainWG sync.WaitGroup // removed sockets still finishing requests

	refusals refusalLog // bounds the refusal log lines (refusal.go)

	turns *handshakeTurns // whose handshake computes now (handshaketurn.go)

	bindFailures []BindError // of the last refused swap (binderror.go); under mu
}

// state is one configuration plus the runtime objects serving it.
type state struct {
	cfg       *config.Config
	byAddr    map[string]*config.Listener // by socketKey
	upstreams map[string]*upstream
}

// clusterTransport lets a changed cluster keep its pool when the connect
// timeout and the upstream protocol (the pool settings from xDS) are unchanged.
type clusterTransport struct {
	timeout   time.Duration
	protocol  config.UpstreamProtocol
	tlsKey    string // upstream TLS settings and material (applyUpstreamTLS)
	dialer    *net.Dialer
	transport *http.Transport
	pool      *h1Pool
}

var _ config.Handler = (*Proxy)(nil)

// New returns a proxy with no listeners; configurations arrive via Apply.
func New(logger *slog.Logger, opts ...Option) *Proxy {
	if logger == nil {
		logger = slog.Default()
	}
	p := &Proxy{
		log:        logger,
		errLog:     slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		resolver:   net.DefaultResolver,
		sockets:    map[string]*socket{},
		transports: map[string]*clusterTransport{},
		tcpConns:   map[net.Conn]struct{}{},
		limits:     DefaultLimits(),
		turns:      newHandshakeTurns(runtime.GOMAXPROCS(0)),
	}
	for _, o := range opts {
		o(p)
	}
	p.state.Store(&state{cfg: &config.Config{}, byAddr: map[string]*config.Listener{}, upstreams: map[string]*upstream{}})
	return p
}

// Apply compiles the whole candidate and, when it is complete, swaps it in.
// An invalid resource NACKs the update; an incomplete candidate keeps the
// current configuration and is not an error.
//
// One compile both validates and links: the candidate's resources of the
// other types were accepted before, each by this same compile, so an
// invalid field can only be in the resources of typeURL; and Compile checks
// every resource before it follows a reference, so an invalid resource is
// refused even when the candidate is also incomplete.
func (p *Proxy) Apply(typeURL string, candidate *config.Resources) error {
	if err := config.CheckType(typeURL); err != nil {
		p.log.Warn("rejecting configuration", "type", typeURL, "error", err)
		p.metrics.ConfigRejected()
		return err
	}
	cfg, err := p.compiler.Compile(candidate)
	if errors.Is(err, config.ErrIncomplete) {
		p.log.Info("configuration incomplete, keeping the current one", "type", typeURL, "reason", err)
		p.incomplete.Store(true)
		return nil
	}
	if err != nil {
		p.log.Warn("rejecting configuration", "type", typeURL, "error", err)
		p.metrics.ConfigRejected()
		return err
	}
	if err := p.swap(cfg); err != nil {
		p.log.Warn("rejecting configuration", "type", typeURL, "error", err)
		p.metrics.ConfigRejected()
		return err
	}
	p.applied.Store(true)
	p.incomplete.Store(false)
	p.metrics.ConfigSwap()
	p.log.Info("configuration applied", "type", typeURL, "listeners", len(cfg.Listeners), "routes", len(cfg.Routes), "clusters", len(cfg.Clusters))
	return nil
}

// swap binds new sockets, builds upstreams and publishes the new state.
// Sockets whose address is unchanged are kept: only what they serve changes,
// so no connection on them is disturbed.
func (p *Proxy) swap(cfg *config.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy is shut down")
	}
	byAddr := map[string]*config.Listener{}
	for _, n := range slices.Sorted(maps.Keys(cfg.Listeners)) {
		l := cfg.Listeners[n]
		key := socketKey(l)
		if other, dup := byAddr[key]; dup {
			return fmt.Errorf("listener %q: address %s is already used by listener %q", n, l.Address, other.Name)
		}
		byAddr[key] = l
	}
	// Every fresh socket is tried, so that a refusal names all that failed.
	var fresh []*socket
	var failed []error
	for _, addr := range slices.Sorted(maps.Keys(byAddr)) {
		if _, ok := p.sockets[addr]; ok || byAddr[addr].UDP != nil {
			continue
		}
		s, err := p.bind(addr, byAddr[addr])
		if err != nil {
			failed = append(failed, err)
			continue
		}
		fresh = append(fresh, s)
	}
	freshUDP, err := p.bindUDP(byAddr)
	if err != nil {
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		for _, f := range fresh {
			f.ln.Close()
		}
		for _, f := range freshUDP {
			f.conn.Close()
		}
		err := joinBindErrors(failed)
		p.bindFailures = bindFailuresOf(err)
		return err
	}
	p.bindFailures = nil

	old := p.state.Load()
	st := &state{cfg: cfg, byAddr: byAddr, upstreams: p.buildUpstreams(old, cfg)}
	p.state.Store(st)

	for _, s := range fresh {
		p.sockets[s.addr] = s
		s.start()
	}
	p.commitUDP(freshUDP, byAddr)
	for addr, s := range p.sockets {
		if _, keep := byAddr[addr]; !keep {
			delete(p.sockets, addr)
			p.drainWG.Add(1)
			go func() {
				defer p.drainWG.Done()
				s.drain(context.Background())
			}()
		}
	}
	for name, u := range old.upstreams {
		if st.upstreams[name] != u {
			u.close()
		}
	}
	for name, ct := range p.transports {
		if _, ok := cfg.Clusters[name]; !ok {
			ct.closeIdle()
			delete(p.transports, name)
		}
	}
	return nil
}

// buildUpstreams reuses the upstream of every unchanged cluster and creates
// the others; new STRICT_DNS clusters are resolved once before the swap
// (in parallel, bounded) so that they do not start empty.
func (p *Proxy) buildUpstreams(old *state, cfg *config.Config) map[string]*upstream {
	ups := make(map[string]*upstream, len(cfg.Clusters))
	var wg sync.WaitGroup
	for name, c := range cfg.Clusters {
		if u, ok := old.upstreams[name]; ok && u.cluster.Equal(c) {
			ups[name] = u
			continue
		}
		ct := p.transports[name]
		if ct == nil || ct.timeout != c.ConnectTimeout || ct.protocol != c.Protocol || ct.tlsKey != c.TLS.Fingerprint() {
			if ct != nil {
				ct.closeIdle()
			}
			ct = newClusterTransport(c)
			p.transports[name] = ct
		}
		u := &upstream{cluster: c, transport: ct.transport, pool: ct.pool, dialer: ct.dialer}
		ups[name] = u
		if c.Type == config.ClusterEDS {
			u.eps.Store(newEndpointSet(staticEndpoints(c)))
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		u.stop = cancel
		d := &dnsResolver{log: p.log, resolver: p.resolver, cluster: c, u: u, last: map[string][]netip.Addr{}}
		if prev, ok := old.upstreams[name]; ok {
			// Start from the previous addresses until the first lookup.
			u.eps.Store(prev.eps.Load())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.refresh(ctx)
			go d.run(ctx)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		p.log.Warn("initial DNS resolution still running; affected clusters answer 503 until it completes")
	}
	return ups
}

// ListenerAddr returns the address a listener is bound to (useful with port
// 0), or nil when no such listener is served.
func (p *Proxy) ListenerAddr(name string) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.state.Load().cfg.Listeners[name]
	if l == nil {
		return nil
	}
	if l.UDP != nil {
		return p.udpAddr(socketKey(l))
	}
	if s := p.sockets[socketKey(l)]; s != nil {
		return s.ln.Addr()
	}
	return nil
}

// Shutdown stops accepting, lets in-flight HTTP requests and TCP
// connections finish until ctx ends, then closes what is left.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	sockets := slices.Collect(maps.Values(p.sockets))
	p.sockets = map[string]*socket{}
	p.mu.Unlock()
	p.closeUDP()

	var wg sync.WaitGroup
	for _, s := range sockets {
		wg.Add(1)
		go func() { defer wg.Done(); s.drain(ctx) }()
	}
	wg.Wait()
	p.tcpMu.Lock()
	p.tcpClosed = true
	p.tcpMu.Unlock()
	tcpDone := make(chan struct{})
	go func() { p.tcpWG.Wait(); p.drainWG.Wait(); close(tcpDone) }()
	var err error
	select {
	case <-tcpDone:
	case <-ctx.Done():
		err = ctx.Err()
		p.tcpMu.Lock()
		for c := range p.tcpConns {
			c.Close()
		}
		p.tcpMu.Unlock()
	}
	for _, u := range p.state.Load().upstreams {
		u.close()
	}
	p.mu.Lock()
	for _, ct := range p.transports {
		ct.closeIdle()
	}
	p.mu.Unlock()
	return err
}

// Close shuts down immediately, cutting in-flight requests.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// startTCP registers a proxied connection; false once Shutdown has begun
// waiting, so that WaitGroup.Add never races with Wait.
func (p *Proxy) startTCP(c net.Conn) bool {
	p.tcpMu.Lock()
	defer p.tcpMu.Unlock()
	if p.tcpClosed {
		return false
	}
	p.tcpWG.Add(1)
	p.tcpConns[c] = struct{}{}
	return true
}

func (p *Proxy) endTCP(c net.Conn) {
	p.tcpMu.Lock()
	delete(p.tcpConns, c)
	p.tcpMu.Unlock()
	p.tcpWG.Done()
}

// trackUpstream records the upstream side so a forced shutdown closes it.
func (p *Proxy) trackUpstream(c net.Conn, add bool) {
	p.tcpMu.Lock()
	if add {
		p.tcpConns[c] = struct{}{}
	} else {
		delete(p.tcpConns, c)
	}
	p.tcpMu.Unlock()
}

// socketKey identifies a socket: its address, except that ephemeral ports
// (port 0, used by tests and tools) are distinct per listener name.
func socketKey(l *config.Listener) string {
	key := l.Address
	if strings.HasSuffix(l.Address, ":0") {
		key = l.Address + "#" + l.Name
	}
	if l.UDP != nil {
		key = "udp/" + key // beside a TCP socket on the same port
	}
	return key
}

// bufferPool recycles the 32 KiB buffers httputil.ReverseProxy copies
// bodies with, instead of allocating one per request. It holds array
// pointers, not slices: a pointer goes into the pool's interface without an
// allocation, a slice header would need one on every Put.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}
