package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config describes one cluster's network.
type Config struct {
	// ID names everything the network creates (ewbr-<id>, ew-<id>-<n>): 1 to
	// 6 lowercase letters or digits. NewID makes one.
	ID string
	// StateRoot holds <StateRoot>/<id>/; empty means DefaultStateRoot.
	StateRoot string
	// ServiceCIDR is made unreachable on the host and in every pod. Empty
	// means the first of 10.96.0.0/16 ... 10.127.0.0/16 that nothing on the
	// host routes. When re-opening an existing network it must be empty or
	// equal to the recorded one.
	ServiceCIDR netip.Prefix
}

// Network is one cluster's pod network on this host. Its methods are safe for
// concurrent use, and coordinate with other processes working on the same ID
// through a lock file in the state directory.
type Network struct {
	mu          sync.Mutex
	root, dir   string
	id          string
	bridge      string
	podCIDR     netip.Prefix
	gateway     netip.Addr
	serviceCIDR netip.Prefix
}

// ID is the network's ID.
func (n *Network) ID() string { return n.id }

// StateRoot is the directory holding this network's state directory.
func (n *Network) StateRoot() string { return n.root }

// StateDir is <StateRoot>/<id>.
func (n *Network) StateDir() string { return n.dir }

// Bridge is the name of the network's bridge, ewbr-<id>.
func (n *Network) Bridge() string { return n.bridge }

// Gateway is the host's own address on the pod network (on the bridge) and
// every pod's default gateway: the first usable address of PodCIDR.
func (n *Network) Gateway() netip.Addr { return n.gateway }

// PodCIDR is the network's /20 block of PodRange. Pod IPs and the addresses
// AllocateHostAddress returns come from it.
func (n *Network) PodCIDR() netip.Prefix { return n.podCIDR }

// ServiceCIDR is the range made unreachable on the host and in the pods,
// except for the addresses given to AddHostAddress.
func (n *Network) ServiceCIDR() netip.Prefix { return n.serviceCIDR }

// Open creates the network cfg describes, or re-attaches to it when its state
// directory exists (a restarted node): it then re-creates whatever of the
// bridge, its addresses and the Service CIDR route is missing, and keeps the
// recorded pods and IP allocations. A network that fails half-way through its
// creation is removed again before Open returns the error.
func Open(cfg Config) (*Network, error) {
	if err := validateID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.StateRoot == "" {
		cfg.StateRoot = DefaultStateRoot
	}
	if cfg.ServiceCIDR.IsValid() {
		if err := validateServiceCIDR(cfg.ServiceCIDR); err != nil {
			return nil, err
		}
		cfg.ServiceCIDR = cfg.ServiceCIDR.Masked()
	}
	n, fresh, err := open(cfg)
	if err != nil && fresh {
		if cerr := Cleanup(cfg.StateRoot, cfg.ID); cerr != nil {
			err = errors.Join(err, fmt.Errorf("podnet: removing the half-created network %s: %w", cfg.ID, cerr))
		}
	}
	return n, err
}

func validateServiceCIDR(p netip.Prefix) error {
	switch {
	case !p.Addr().Is4():
		return fmt.Errorf("podnet: Service CIDR %s is not IPv4; podnet networks are IPv4 only", p)
	case p.Bits() < 12:
		return fmt.Errorf("podnet: Service CIDR %s is larger than a /12 (what kube-apiserver accepts for IPv4); use a smaller range such as 10.96.0.0/16", p)
	case p.Overlaps(PodRange):
		return fmt.Errorf("podnet: Service CIDR %s overlaps the pod range %s; use a range such as 10.96.0.0/16", p, PodRange)
	case p.Overlaps(netip.MustParsePrefix("127.0.0.0/8")), p.Overlaps(netip.MustParsePrefix("169.254.0.0/16")),
		p.Overlaps(netip.MustParsePrefix("224.0.0.0/3")), p.Overlaps(netip.MustParsePrefix("0.0.0.0/8")):
		return fmt.Errorf("podnet: Service CIDR %s overlaps loopback, link-local, multicast or reserved addresses; use a range such as 10.96.0.0/16", p)
	}
	return nil
}

// open does Open's work; fresh reports whether it recorded a new network (so
// a failure must be cleaned up).
func open(cfg Config) (n *Network, fresh bool, err error) {
	if err := os.MkdirAll(cfg.StateRoot, 0o755); err != nil {
		return nil, false, fmt.Errorf("podnet: create state root %s: %w", cfg.StateRoot, err)
	}
	unlock, err := flock(globalLock)
	if err != nil {
		return nil, false, err
	}
	defer unlock()

	h, err := netlink.NewHandle()
	if err != nil {
		return nil, false, fmt.Errorf("podnet: open a netlink socket (podnet needs root): %w", err)
	}
	defer h.Close()
	hr, err := readHostRoutes(h)
	if err != nil {
		return nil, false, err
	}
	if foreign := hr.foreignPodRoutes(); len(foreign) > 0 {
		return nil, false, fmt.Errorf("podnet: the host already routes addresses of %s that podnet did not create (%s); podnet gives pods addresses from that range and will not share it: remove those routes or addresses first",
			PodRange, strings.Join(foreign, "; "))
	}

	dir := filepath.Join(cfg.StateRoot, cfg.ID)
	st, err := loadState(dir)
	switch {
	case err == nil:
		if st.ID != cfg.ID {
			return nil, false, fmt.Errorf("podnet: state %s belongs to network %q, not %q; remove the directory or use another state root", dir, st.ID, cfg.ID)
		}
		if cfg.ServiceCIDR.IsValid() && cfg.ServiceCIDR != st.ServiceCIDR {
			return nil, false, fmt.Errorf("podnet: network %s exists with Service CIDR %s, not %s; Cleanup it first to change its Service CIDR", cfg.ID, st.ServiceCIDR, cfg.ServiceCIDR)
		}
		if user := hr.blockUser(st.PodCIDR, st.Bridge); user != "" {
			return nil, false, fmt.Errorf("podnet: network %s's pod block %s is now used by %s; Cleanup network %s and open it again to get a free block", cfg.ID, st.PodCIDR, user, cfg.ID)
		}
		if user := hr.serviceCIDRUser(st.ServiceCIDR, st); user != "" {
			return nil, false, fmt.Errorf("podnet: network %s's Service CIDR %s is now also routed by %s; remove that route, or Cleanup the network and open it with another Service CIDR", cfg.ID, st.ServiceCIDR, user)
		}
	case isNotExist(err):
		st, err = newState(cfg, hr)
		if err != nil {
			return nil, false, err
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, false, fmt.Errorf("podnet: create state directory %s: %w", dir, err)
		}
		fresh = true
		if err := st.save(dir); err != nil {
			return nil, fresh, err
		}
	default:
		return nil, false, err
	}

	unlockNet, err := lockNetwork(dir)
	if err != nil {
		return nil, fresh, fmt.Errorf("podnet: lock network %s: %w", cfg.ID, err)
	}
	defer unlockNet()
	if err := ensureNetwork(h, st); err != nil {
		return nil, fresh, err
	}
	return &Network{
		root: cfg.StateRoot, dir: dir, id: st.ID, bridge: st.Bridge,
		podCIDR: st.PodCIDR, gateway: st.Gateway, serviceCIDR: st.ServiceCIDR,
	}, fresh, nil
}

// newState chooses a free pod block and Service CIDR for a new network.
func newState(cfg Config, hr *hostRoutes) (*state, error) {
	others := otherStates(cfg.StateRoot, cfg.ID)
	st := &state{
		ID:                 cfg.ID,
		Bridge:             bridgeName(cfg.ID),
		ServiceRouteMetric: serviceRouteMetric(cfg.ID),
		Pods:               map[string]*podState{},
	}
	for k := 0; k < numBlocks(); k++ {
		b := block(k)
		if hr.blockInUse(b) || others.uses(b) {
			continue
		}
		st.PodCIDR = b
		st.Gateway = b.Addr().Next()
		break
	}
	if !st.PodCIDR.IsValid() {
		return nil, fmt.Errorf("podnet: all %d pod blocks of %s are in use by other networks (ewbr-* bridges); run CleanupAll or remove networks that are no longer needed", numBlocks(), PodRange)
	}
	if cfg.ServiceCIDR.IsValid() {
		if user := hr.serviceCIDRUser(cfg.ServiceCIDR, st); user != "" {
			return nil, fmt.Errorf("podnet: Service CIDR %s is already routed on the host by %s; choose another one, or leave Config.ServiceCIDR empty to get a free one", cfg.ServiceCIDR, user)
		}
		if other := others.serviceUser(cfg.ServiceCIDR); other != "" {
			return nil, fmt.Errorf("podnet: Service CIDR %s is already the Service CIDR of network %s (state in %s); two clusters cannot share ClusterIPs on one host: choose another one", cfg.ServiceCIDR, other, cfg.StateRoot)
		}
		st.ServiceCIDR = cfg.ServiceCIDR
		return st, nil
	}
	for _, c := range serviceCIDRCandidates {
		if hr.serviceCIDRUser(c, st) == "" && others.serviceUser(c) == "" {
			st.ServiceCIDR = c
			return st, nil
		}
	}
	return nil, fmt.Errorf("podnet: every Service CIDR from %s to %s is routed on the host; set Config.ServiceCIDR to a free range", serviceCIDRCandidates[0], serviceCIDRCandidates[len(serviceCIDRCandidates)-1])
}

// ensureNetwork creates whatever of st's host objects is missing. Each step
// tolerates the object already existing, so it is also the re-attach path.
func ensureNetwork(h *netlink.Handle, st *state) error {
	br, err := h.LinkByName(st.Bridge)
	if err != nil {
		if !isLinkNotFound(err) {
			return fmt.Errorf("podnet: look up bridge %s: %w", st.Bridge, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = st.Bridge
		attrs.HardwareAddr = bridgeMAC(st.ID)
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("podnet: create bridge %s: %w (does this kernel have bridge support, and do we run as root?)", st.Bridge, err)
		}
		if br, err = h.LinkByName(st.Bridge); err != nil {
			return fmt.Errorf("podnet: look up bridge %s after creating it: %w", st.Bridge, err)
		}
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("podnet: link %s exists but is a %s, not a bridge; it is not podnet's: remove or rename it", st.Bridge, br.Type())
	}
	// The host must never route a pod's packet: a host with ip_forward=1
	// (any Docker host) gives new links forwarding=1 by default.
	if err := writeSysctl("net/ipv4/conf/"+st.Bridge+"/forwarding", "0"); err != nil {
		return err
	}
	if err := writeSysctl("net/ipv6/conf/"+st.Bridge+"/disable_ipv6", "1"); err != nil && !isNotExist(err) {
		return err
	}
	if err := h.AddrAdd(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(st.Gateway, st.PodCIDR.Bits()))}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("podnet: add %s/%d to bridge %s: %w", st.Gateway, st.PodCIDR.Bits(), st.Bridge, err)
	}
	for _, a := range st.HostAddresses {
		if err := h.AddrAdd(br, &netlink.Addr{IPNet: hostNet(a)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("podnet: add host address %s to bridge %s: %w", a, st.Bridge, err)
		}
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("podnet: set bridge %s up: %w", st.Bridge, err)
	}
	if err := h.RouteAdd(serviceRoute(st)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("podnet: add route unreachable %s to the host's main table: %w", st.ServiceCIDR, err)
	}
	return nil
}

// serviceRoute is the host route that makes the Service CIDR fail fast.
func serviceRoute(st *state) *netlink.Route {
	return &netlink.Route{
		Dst:      ipNet(st.ServiceCIDR),
		Type:     unix.RTN_UNREACHABLE,
		Protocol: routeProtocol,
		Priority: int(st.ServiceRouteMetric),
		Table:    unix.RT_TABLE_MAIN,
	}
}

func writeSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", name)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("podnet: set %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// withState runs fn with the network's locks held and its current state. fn
// saves the state itself, before creating what it records.
func (n *Network) withState(fn func(h *netlink.Handle, st *state) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	unlock, err := lockNetwork(n.dir)
	if err != nil {
		if isNotExist(err) {
			return fmt.Errorf("podnet: network %s is gone (no state directory %s; was it cleaned up?): Open it again", n.id, n.dir)
		}
		return err
	}
	defer unlock()
	st, err := loadState(n.dir)
	if err != nil {
		if isNotExist(err) {
			return fmt.Errorf("podnet: network %s is gone (no %s in %s; was it cleaned up?): Open it again", n.id, stateFile, n.dir)
		}
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("podnet: open a netlink socket: %w", err)
	}
	defer h.Close()
	return fn(h, st)
}

// otherNetworks is what other state directories under the same root claim.
type otherNetworks []*state

func otherStates(root, id string) otherNetworks {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out otherNetworks
	for _, e := range entries {
		if !e.IsDir() || e.Name() == id || validateID(e.Name()) != nil {
			continue
		}
		if st, err := loadState(filepath.Join(root, e.Name())); err == nil {
			out = append(out, st)
		}
	}
	return out
}

func (o otherNetworks) uses(b netip.Prefix) bool {
	for _, st := range o {
		if st.PodCIDR.IsValid() && st.PodCIDR.Overlaps(b) {
			return true
		}
	}
	return false
}

func (o otherNetworks) serviceUser(c netip.Prefix) string {
	for _, st := range o {
		if st.ServiceCIDR.IsValid() && st.ServiceCIDR.Overlaps(c) {
			return st.ID
		}
	}
	return ""
}
