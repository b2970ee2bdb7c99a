package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// AllocateHostAddress takes the next free address of the pod block and makes
// it a host address (see AddHostAddress): a LoadBalancer address, say.
// RemoveHostAddress gives it back.
func (n *Network) AllocateHostAddress() (netip.Addr, error) {
	var ip netip.Addr
	err := n.withState(func(h *netlink.Handle, st *state) error {
		a, err := st.allocate()
		if err != nil {
			return err
		}
		st.LastIP = a
		if err := n.addHostAddress(h, st, a); err != nil {
			return err
		}
		ip = a
		return nil
	})
	return ip, err
}

// AddHostAddress makes ip an address of the host that the host and every pod
// of the network reach: a /32 on the bridge. ip must lie in the pod block
// (and be free) or in the Service CIDR (a ClusterIP: pods then get a route for
// it through the gateway, which their Service CIDR route otherwise refuses).
// Adding an address that already is a host address is not an error.
func (n *Network) AddHostAddress(ip netip.Addr) error {
	ip = ip.Unmap()
	return n.withState(func(h *netlink.Handle, st *state) error {
		switch {
		case st.PodCIDR.Contains(ip):
			switch ip {
			case st.PodCIDR.Addr(), lastAddr(st.PodCIDR):
				return fmt.Errorf("podnet: %s is the network or broadcast address of pod block %s; it cannot be a host address", ip, st.PodCIDR)
			case st.Gateway:
				return fmt.Errorf("podnet: %s is network %s's gateway, which already is a host address (on %s)", ip, st.ID, st.Bridge)
			}
			for name, ps := range st.Pods {
				if ps.IP == ip {
					return fmt.Errorf("podnet: %s is the IP of pod %q; choose a free address, or let AllocateHostAddress choose one", ip, name)
				}
			}
		case st.ServiceCIDR.Contains(ip):
		default:
			return fmt.Errorf("podnet: %s is neither in network %s's pod block %s nor in its Service CIDR %s; podnet only makes addresses of its own ranges host addresses, so that it never takes over someone else's", ip, st.ID, st.PodCIDR, st.ServiceCIDR)
		}
		return n.addHostAddress(h, st, ip)
	})
}

func (n *Network) addHostAddress(h *netlink.Handle, st *state, ip netip.Addr) error {
	if !st.hostAddress(ip) {
		st.HostAddresses = append(st.HostAddresses, ip)
	}
	if err := st.save(n.dir); err != nil {
		return err
	}
	err := addHostAddressObjects(h, st, ip)
	if err != nil {
		if rerr := removeHostAddressObjects(h, st, ip); rerr != nil {
			return errors.Join(err, rerr) // keep the record: Cleanup removes the rest
		}
		st.removeHostAddress(ip)
		return errors.Join(err, st.save(n.dir))
	}
	return nil
}

func addHostAddressObjects(h *netlink.Handle, st *state, ip netip.Addr) error {
	br, err := h.LinkByName(st.Bridge)
	if err != nil {
		return fmt.Errorf("podnet: bridge %s is missing (%v); Open the network again to re-create it", st.Bridge, err)
	}
	if err := h.AddrAdd(br, &netlink.Addr{IPNet: hostNet(ip)}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("podnet: add host address %s/32 to %s: %w", ip, st.Bridge, err)
	}
	if !st.ServiceCIDR.Contains(ip) {
		return nil // pods reach it on the bridge, by ARP
	}
	for name, ps := range st.Pods {
		err := inPodHandle(ps, func(ph *netlink.Handle, eth0 int) error {
			return ph.RouteAdd(podServiceRoute(eth0, st.Gateway, ip))
		})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("podnet: add route %s via %s in pod %q (%s): %w", ip, st.Gateway, name, ps.Netns, err)
		}
	}
	return nil
}

// RemoveHostAddress removes a host address (and the pods' routes for it) and
// frees it. Removing an address that is not a host address is not an error.
func (n *Network) RemoveHostAddress(ip netip.Addr) error {
	ip = ip.Unmap()
	return n.withState(func(h *netlink.Handle, st *state) error {
		if !st.hostAddress(ip) {
			return nil
		}
		if err := removeHostAddressObjects(h, st, ip); err != nil {
			return err
		}
		st.removeHostAddress(ip)
		return st.save(n.dir)
	})
}

func removeHostAddressObjects(h *netlink.Handle, st *state, ip netip.Addr) error {
	var errs []error
	if st.ServiceCIDR.Contains(ip) {
		for name, ps := range st.Pods {
			err := inPodHandle(ps, func(ph *netlink.Handle, eth0 int) error {
				return ph.RouteDel(podServiceRoute(eth0, st.Gateway, ip))
			})
			if err != nil && !errors.Is(err, unix.ESRCH) && !isNotExist(err) {
				errs = append(errs, fmt.Errorf("podnet: delete route %s in pod %q (%s): %w", ip, name, ps.Netns, err))
			}
		}
	}
	br, err := h.LinkByName(st.Bridge)
	switch {
	case err == nil:
		if err := h.AddrDel(br, &netlink.Addr{IPNet: hostNet(ip)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("podnet: delete host address %s from %s: %w", ip, st.Bridge, err))
		}
	case !isLinkNotFound(err):
		errs = append(errs, fmt.Errorf("podnet: look up bridge %s: %w", st.Bridge, err))
	}
	return errors.Join(errs...)
}

// HostAddresses returns the network's host addresses (not counting the
// gateway).
func (n *Network) HostAddresses() ([]netip.Addr, error) {
	var out []netip.Addr
	err := n.withState(func(_ *netlink.Handle, st *state) error {
		out = append(out, st.HostAddresses...)
		return nil
	})
	return out, err
}

// inPodHandle runs fn with a netlink handle inside the pod's namespace and
// the index of its eth0.
func inPodHandle(ps *podState, fn func(ph *netlink.Handle, eth0 int) error) error {
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, ps.Netns))
	if err != nil {
		return err
	}
	defer ns.Close()
	ph, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer ph.Close()
	eth0, err := ph.LinkByName("eth0")
	if err != nil {
		return err
	}
	return fn(ph, eth0.Attrs().Index)
}
