package main

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// A listener whose socket the host will not give the data plane (a port
// another process holds, an address not on the host, a privileged port
// without the capability) would have the data plane refuse the whole
// configuration, every other Gateway's changes with it, since it binds a
// configuration all or none. Standalone learns the sockets from the
// refusal, translates again with them (Snapshot.BindFailures: those
// listeners are PortUnavailable) and publishes that, which binds. Each
// socket is tried again every --bind-retry and on SIGHUP; once it binds,
// its listeners are published again.

// unbindableSockets is the set translation leaves out, safe for use from
// the xDS client's callback, the retry loop and the pipeline.
type unbindableSockets struct {
	log *slog.Logger

	mu     sync.Mutex
	failed []snapshot.BindFailure // in the order learnt
}

// add records the data plane's bind failures; true if any is new, i.e. a
// translation without them may now bind.
func (u *unbindableSockets) add(errs []proxy.BindError) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	added := false
	for _, e := range errs {
		f, ok := bindFailure(e)
		if !ok || slices.ContainsFunc(u.failed, func(o snapshot.BindFailure) bool { return sameSocket(o, f) }) {
			continue
		}
		u.failed = append(u.failed, f)
		added = true
		u.log.Warn("a listener could not bind; serving the rest of the configuration without it", "listener", e.Listener, "address", e.Address, "udp", e.UDP, "error", f.Error)
	}
	return added
}

// list is the set for the next Snapshot (a copy).
func (u *unbindableSockets) list() []snapshot.BindFailure {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.failed)
}

// retry drops every socket that binds now (it is bound and closed at once,
// for the data plane to bind); true if any did.
func (u *unbindableSockets) retry() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	kept := u.failed[:0]
	for _, f := range u.failed {
		if bindsNow(f) {
			u.log.Info("a listener's socket is free again; publishing its listeners", "address", net.JoinHostPort(f.Address, strconv.Itoa(int(f.Port))), "udp", f.UDP)
			continue
		}
		kept = append(kept, f)
	}
	freed := len(kept) < len(u.failed)
	clear(u.failed[len(kept):])
	u.failed = kept
	return freed
}

// run retries every interval until ctx ends, publishing again (republish)
// when a socket was freed.
func (u *unbindableSockets) run(ctx context.Context, interval time.Duration, republish func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if u.retry() {
				republish()
			}
		}
	}
}

// bindFailure is the Snapshot's form of a data plane BindError: the
// address as translation writes it (a canonical IP) and the port apart.
func bindFailure(e proxy.BindError) (snapshot.BindFailure, bool) {
	host, p, err := net.SplitHostPort(e.Address)
	if err != nil {
		return snapshot.BindFailure{}, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		return snapshot.BindFailure{}, false
	}
	return snapshot.BindFailure{Address: ip.String(), Port: uint32(port), UDP: e.UDP, Error: bindReason(e.Err)}, true
}

// bindReason is the system's reason without the repetition of the address
// the condition already names ("listen tcp 127.0.0.1:80: bind: address
// already in use" -> "bind: address already in use").
func bindReason(err error) string {
	if op, ok := err.(*net.OpError); ok && op.Err != nil {
		return op.Err.Error() // an *os.SyscallError: "bind: ..."
	}
	return err.Error()
}

func sameSocket(a, b snapshot.BindFailure) bool {
	return a.Address == b.Address && a.Port == b.Port && a.UDP == b.UDP
}

// bindsNow tries the socket as the data plane would bind it.
func bindsNow(f snapshot.BindFailure) bool {
	addr := net.JoinHostPort(f.Address, strconv.Itoa(int(f.Port)))
	if f.UDP {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// staleRefusalResync asks the server again, on a new stream, for a type
// whose refused version is still the one published after the publication
// that leaves out the failed sockets (the server sends a type again only
// when it changed, and a NACKed version never on the same stream). The
// new stream must wait until the data plane holds every other type of that
// publication: until then its accepted listeners still name the failed
// sockets, and the refused type would be refused again with them, this
// time for good.
type staleRefusalResync struct {
	client interface {
		Stats() xdsclient.Stats
		Resync()
	}
	published func() map[string]string // type URL -> the version published

	pending atomic.Bool
}

// arm: the publication is made; resync once the data plane has taken it.
func (r *staleRefusalResync) arm() {
	r.pending.Store(true)
	r.check()
}

// check resyncs, once per arm, when every published type is either in
// force or refused at its published version, and one is the latter.
func (r *staleRefusalResync) check() {
	if !r.pending.Load() {
		return
	}
	st := r.client.Stats()
	stale := false
	for typ, v := range r.published() {
		if rej, ok := st.Rejected[typ]; ok && rej.Version == v {
			stale = true
			continue
		}
		if st.Versions[typ] != v {
			return // the data plane has not taken the publication yet
		}
	}
	if r.pending.CompareAndSwap(true, false) && stale {
		go r.client.Resync() // not from the client's own callback
	}
}
