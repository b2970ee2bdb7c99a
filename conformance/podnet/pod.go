package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Pod is one pod's network: a namespace whose eth0 holds IP.
type Pod struct {
	// Name is what AddPod was given (a pod UID, or namespace/name).
	Name string
	// IP is the pod's address, from the network's PodCIDR.
	IP netip.Addr
	// Netns is the namespace's name, ew-<id>-<n> (`ip netns exec <Netns> ...`).
	Netns string
	// NetnsPath is /run/netns/<Netns>: what setns(2) and tools take.
	NetnsPath string
	// HostVeth is the host end of the pod's veth pair, on the bridge; it has
	// the same name as the namespace.
	HostVeth string
}

func podFrom(name string, ps *podState) *Pod {
	return &Pod{Name: name, IP: ps.IP, Netns: ps.Netns, NetnsPath: filepath.Join(netnsDir, ps.Netns), HostVeth: ps.Veth}
}

// Start starts cmd (as cmd.Start does) with the pod's network namespace: the
// child and everything it starts see only the pod's lo and eth0. Waiting for
// and stopping the process is the caller's business.
func (p *Pod) Start(cmd *exec.Cmd) error {
	if err := startInNetns(p.NetnsPath, cmd.Start); err != nil {
		return fmt.Errorf("podnet: start %s in pod %s (%s): %w", cmd.Path, p.Name, p.Netns, err)
	}
	return nil
}

// Do runs fn on an OS thread inside the pod's network namespace: sockets fn
// creates belong to the pod (a net.Dial from fn connects from p.IP).
// Goroutines fn starts run in the host's namespace, so fn must create its
// sockets itself.
func (p *Pod) Do(fn func() error) error {
	return inNetns(p.NetnsPath, fn)
}

// AddPod gives a new pod called name its network: namespace ew-<id>-<n>, lo
// up, a veth pair whose pod end is eth0 with the next free IP of the pod
// block, a default route via the gateway, and routes for the Service CIDR
// (unreachable, except the host addresses in it). Names are unique within the
// network.
func (n *Network) AddPod(name string) (*Pod, error) {
	if name == "" {
		return nil, errors.New("podnet: AddPod needs a pod name")
	}
	var pod *Pod
	err := n.withState(func(h *netlink.Handle, st *state) error {
		if ps, ok := st.Pods[name]; ok {
			return fmt.Errorf("podnet: pod %q already has a network (%s, %s) in network %s; use Pod(%q), or RemovePod it first", name, ps.Netns, ps.IP, n.id, name)
		}
		index, err := st.freeIndex()
		if err != nil {
			return err
		}
		ip, err := st.allocate()
		if err != nil {
			return err
		}
		obj := podObjectName(st.ID, index)
		ps := &podState{Index: index, Netns: obj, Veth: obj, IP: ip}
		st.Pods[name] = ps
		st.LastIP = ip
		if err := st.save(n.dir); err != nil {
			return err
		}
		if err := createPod(h, st, ps); err != nil {
			if terr := teardownPod(h, ps); terr != nil {
				// Keep the record so that Cleanup removes the rest.
				return errors.Join(err, terr)
			}
			delete(st.Pods, name)
			return errors.Join(fmt.Errorf("podnet: add pod %q: %w", name, err), st.save(n.dir))
		}
		pod = podFrom(name, ps)
		return nil
	})
	return pod, err
}

func createPod(h *netlink.Handle, st *state, ps *podState) error {
	if err := createNetns(ps.Netns); err != nil {
		return err
	}
	path := filepath.Join(netnsDir, ps.Netns)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("podnet: open network namespace %s: %w", path, err)
	}
	defer ns.Close()

	br, err := h.LinkByName(st.Bridge)
	if err != nil {
		return fmt.Errorf("podnet: bridge %s is missing (%v); Open the network again to re-create it", st.Bridge, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = ps.Veth
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}); err != nil {
		return fmt.Errorf("podnet: create veth pair %s (host) / eth0 (in %s): %w", ps.Veth, ps.Netns, err)
	}
	veth, err := h.LinkByName(ps.Veth)
	if err != nil {
		return fmt.Errorf("podnet: look up veth %s after creating it: %w", ps.Veth, err)
	}
	// A bridge port has no use for IPv6 addresses of its own.
	if err := writeSysctl("net/ipv6/conf/"+ps.Veth+"/disable_ipv6", "1"); err != nil && !isNotExist(err) {
		return err
	}
	if err := h.LinkSetMaster(veth, br); err != nil {
		return fmt.Errorf("podnet: attach %s to bridge %s: %w", ps.Veth, st.Bridge, err)
	}
	if err := h.LinkSetUp(veth); err != nil {
		return fmt.Errorf("podnet: set %s up: %w", ps.Veth, err)
	}

	ph, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("podnet: open a netlink socket in %s: %w", ps.Netns, err)
	}
	defer ph.Close()
	lo, err := ph.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("podnet: look up lo in %s: %w", ps.Netns, err)
	}
	if err := ph.LinkSetUp(lo); err != nil {
		return fmt.Errorf("podnet: set lo up in %s: %w", ps.Netns, err)
	}
	eth0, err := ph.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("podnet: look up eth0 in %s: %w", ps.Netns, err)
	}
	if err := ph.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ps.IP, st.PodCIDR.Bits()))}); err != nil {
		return fmt.Errorf("podnet: add %s/%d to eth0 in %s: %w", ps.IP, st.PodCIDR.Bits(), ps.Netns, err)
	}
	// Up before the routes: the kernel adds eth0's block route when it comes
	// up, and a route via the gateway needs it.
	if err := ph.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("podnet: set eth0 up in %s: %w", ps.Netns, err)
	}
	gw := netlinkIP(st.Gateway)
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw, Protocol: routeProtocol}); err != nil {
		return fmt.Errorf("podnet: add default route via %s in %s: %w", st.Gateway, ps.Netns, err)
	}
	if err := ph.RouteAdd(&netlink.Route{Dst: ipNet(st.ServiceCIDR), Type: unix.RTN_UNREACHABLE, Protocol: routeProtocol}); err != nil {
		return fmt.Errorf("podnet: add route unreachable %s in %s: %w", st.ServiceCIDR, ps.Netns, err)
	}
	for _, a := range st.HostAddresses {
		if st.ServiceCIDR.Contains(a) {
			if err := ph.RouteAdd(podServiceRoute(eth0.Attrs().Index, st.Gateway, a)); err != nil {
				return fmt.Errorf("podnet: add route %s via %s in %s: %w", a, st.Gateway, ps.Netns, err)
			}
		}
	}
	return nil
}

// podServiceRoute lets a pod reach host address a (inside the Service CIDR,
// which is otherwise unreachable in the pod) through the gateway.
func podServiceRoute(eth0 int, gw, a netip.Addr) *netlink.Route {
	return &netlink.Route{LinkIndex: eth0, Dst: hostNet(a), Gw: netlinkIP(gw), Protocol: routeProtocol}
}

// teardownPod removes the pod's host veth (which destroys the pair) and its
// namespace. Missing objects are fine.
func teardownPod(h *netlink.Handle, ps *podState) error {
	var errs []error
	if l, err := h.LinkByName(ps.Veth); err == nil {
		if err := h.LinkDel(l); err != nil && !isLinkNotFound(err) {
			errs = append(errs, fmt.Errorf("podnet: delete veth %s: %w", ps.Veth, err))
		}
	} else if !isLinkNotFound(err) {
		errs = append(errs, fmt.Errorf("podnet: look up veth %s: %w", ps.Veth, err))
	}
	if err := deleteNetns(ps.Netns); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RemovePod removes the pod's veth pair and namespace and frees its IP. It
// kills nothing: stop the pod's processes first (a process left inside keeps
// the namespace alive, with only lo). Removing an unknown pod is not an
// error.
func (n *Network) RemovePod(name string) error {
	return n.withState(func(h *netlink.Handle, st *state) error {
		ps, ok := st.Pods[name]
		if !ok {
			return nil
		}
		if err := teardownPod(h, ps); err != nil {
			return fmt.Errorf("podnet: remove pod %q: %w", name, err)
		}
		delete(st.Pods, name)
		return st.save(n.dir)
	})
}

// Pod returns the pod called name, as recorded (also by an earlier process
// working on the same network), or nil.
func (n *Network) Pod(name string) (*Pod, error) {
	var pod *Pod
	err := n.withState(func(_ *netlink.Handle, st *state) error {
		if ps, ok := st.Pods[name]; ok {
			pod = podFrom(name, ps)
		}
		return nil
	})
	return pod, err
}

// Pods returns every pod of the network, sorted by name.
func (n *Network) Pods() ([]*Pod, error) {
	var pods []*Pod
	err := n.withState(func(_ *netlink.Handle, st *state) error {
		for name, ps := range st.Pods {
			pods = append(pods, podFrom(name, ps))
		}
		return nil
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, err
}

// freeIndex is the smallest pod number neither recorded nor present as a
// namespace: an unrecorded ew-<id>-<n> left on the host is never adopted.
func (st *state) freeIndex() (int, error) {
	used := map[int]bool{}
	for _, ps := range st.Pods {
		used[ps.Index] = true
	}
	for i := 1; i <= maxPods; i++ {
		if used[i] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(netnsDir, podObjectName(st.ID, i))); err == nil {
			continue
		}
		return i, nil
	}
	return 0, fmt.Errorf("podnet: network %s has %d pods, the most it can name; remove some", st.ID, maxPods)
}

// allocate returns the next free address of the pod block after LastIP,
// wrapping around, skipping the network, gateway and broadcast addresses and
// every address held by a pod or a host address.
func (st *state) allocate() (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, ps := range st.Pods {
		used[ps.IP] = true
	}
	for _, a := range st.HostAddresses {
		used[a] = true
	}
	first := st.Gateway.Next()
	last := lastAddr(st.PodCIDR).Prev()
	a := first
	if st.LastIP.IsValid() && st.PodCIDR.Contains(st.LastIP) && st.LastIP.Compare(last) < 0 && st.LastIP.Compare(first) >= 0 {
		a = st.LastIP.Next()
	}
	size := 1 << (32 - st.PodCIDR.Bits())
	for i := 0; i < size; i++ {
		if !used[a] {
			return a, nil
		}
		if a == last {
			a = first
		} else {
			a = a.Next()
		}
	}
	return netip.Addr{}, fmt.Errorf("podnet: pod block %s of network %s is full (pods and host addresses); remove pods or host addresses", st.PodCIDR, st.ID)
}
