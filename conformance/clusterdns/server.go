package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// DefaultDomain is the cluster domain unless Config.Domain says otherwise.
const DefaultDomain = "cluster.local"

// TTL is the time to live of every answer and of negative answers (see the
// package documentation for why it is short).
const TTL = 5

// syncTimeout bounds the wait for the informers' first list when the
// caller's context has no deadline of its own.
const syncTimeout = time.Minute

// Config configures a Server.
type Config struct {
	// REST reaches the API server with the right to list and watch Services
	// and EndpointSlices in every namespace (an admin config does).
	REST *rest.Config
	// Listen is the address served over UDP and TCP, e.g. the pod network's
	// gateway on port 53. Port 0 picks one free for both (see Server.Addr).
	Listen netip.AddrPort
	// Domain is the cluster domain (DefaultDomain if empty).
	Domain string
	// Log receives refused queries (rate-limited) and errors; nil discards.
	Log *slog.Logger
}

// Server is a running cluster DNS server.
type Server struct {
	addr     netip.AddrPort
	udp, tcp *dns.Server
	store    *store
	stopOnce sync.Once
	done     sync.WaitGroup
}

// Start starts the informers, waits until they have listed every Service
// and EndpointSlice, binds Listen over UDP and TCP and serves. ctx bounds
// the start only; the server runs until Stop.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.REST == nil {
		return nil, errors.New("clusterdns: Config.REST is required (an admin config of the cluster's API server)")
	}
	if !cfg.Listen.Addr().IsValid() {
		return nil, errors.New("clusterdns: Config.Listen is required (the address pods' resolv.conf names, e.g. the pod network gateway on port 53)")
	}
	domain, err := normalizeDomain(cfg.Domain)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "clusterdns")

	rc := rest.CopyConfig(cfg.REST)
	rc.UserAgent = "edgeway-clusterdns"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("clusterdns: %w", err)
	}
	c := startStore(client)
	syncCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		syncCtx, cancel = context.WithTimeout(ctx, syncTimeout)
		defer cancel()
	}
	if err := c.waitForSync(syncCtx); err != nil {
		c.stop()
		return nil, fmt.Errorf("clusterdns: listing Services and EndpointSlices from %s: %w (is the API server up and the config an admin one?)", cfg.REST.Host, err)
	}

	pc, ln, err := listen(cfg.Listen)
	if err != nil {
		c.stop()
		return nil, err
	}
	h := &handler{
		resolver: resolver{domain: domain, store: c},
		refusals: newRefusalLog(log, domain),
		log:      log,
	}
	s := &Server{
		addr:  netip.AddrPortFrom(cfg.Listen.Addr(), uint16(ln.Addr().(*net.TCPAddr).Port)),
		store: c,
		udp:   &dns.Server{PacketConn: pc, Handler: h},
		tcp:   &dns.Server{Listener: ln, Handler: h},
	}
	// Serving has begun before Start returns: Shutdown refuses a server
	// that has not started yet, which would then never stop.
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := srv.ActivateAndServe(); err != nil {
				log.Error("serving DNS stopped", "addr", s.addr, "err", err)
			}
		}()
	}
	<-started
	<-started
	log.Info("serving cluster DNS", "addr", s.addr, "domain", domain)
	return s, nil
}

// Addr is the address served over UDP and TCP (Config.Listen with the port
// filled in when it was 0).
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Stop closes the sockets, waits for the serving goroutines and stops the
// informers. It may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
		s.done.Wait()
		s.store.stop()
	})
}

// listen binds UDP and TCP on the same address. With port 0 the UDP port
// the kernel picks is then bound over TCP too; another process may hold that
// TCP port, so a few picks are tried.
func listen(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	tries := 1
	if addr.Port() == 0 {
		tries = 20
	}
	var err error
	for range tries {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", addr.String())
		if err != nil {
			return nil, nil, fmt.Errorf("clusterdns: listen on %s/udp: %w", addr, err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		var ln net.Listener
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr.Addr(), uint16(port)).String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if addr.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, fmt.Errorf("clusterdns: listen on %s/tcp: %w", addr, err)
}

// normalizeDomain returns the cluster domain lower-cased and fully
// qualified.
func normalizeDomain(d string) (string, error) {
	if d == "" {
		d = DefaultDomain
	}
	d = dns.Fqdn(strings.ToLower(d))
	if _, ok := dns.IsDomainName(d); !ok || d == "." {
		return "", fmt.Errorf("clusterdns: Config.Domain %q is not a domain name (the cluster domain, e.g. %s)", d, DefaultDomain)
	}
	return d, nil
}
