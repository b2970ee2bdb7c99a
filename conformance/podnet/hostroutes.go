package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostRoutes is a snapshot of the host's IPv4 routes in every table (the
// local table included, so addresses show up too) and its link names.
type hostRoutes struct {
	routes []netlink.Route
	names  map[int]string
}

// dumpRetries bounds retries of a netlink dump that the kernel interrupted
// because the table changed under it (other networks at work).
const dumpRetries = 20

// readHostRoutes takes a consistent snapshot: links are listed before and
// after the routes, and the snapshot is retaken when a link came or went in
// between (another network being removed, say), because a route whose link
// cannot be named would look foreign.
func readHostRoutes(h *netlink.Handle) (*hostRoutes, error) {
	for i := 0; ; i++ {
		before, err := linkNames(h)
		if err != nil {
			return nil, err
		}
		var routes []netlink.Route
		for j := 0; j < dumpRetries; j++ {
			routes, err = h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
			if !errors.Is(err, netlink.ErrDumpInterrupted) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("podnet: list the host's routes: %w", err)
		}
		after, err := linkNames(h)
		if err != nil {
			return nil, err
		}
		consistent := len(before) == len(after)
		for idx, name := range after {
			consistent = consistent && before[idx] == name
		}
		for _, r := range routes {
			if _, ok := after[r.LinkIndex]; r.LinkIndex != 0 && !ok {
				consistent = false
			}
		}
		if consistent || i == dumpRetries {
			return &hostRoutes{routes: routes, names: after}, nil
		}
	}
}

func linkNames(h *netlink.Handle) (map[int]string, error) {
	links, err := listLinks(h)
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	return names, nil
}

func listLinks(h *netlink.Handle) ([]netlink.Link, error) {
	var links []netlink.Link
	var err error
	for i := 0; i < dumpRetries; i++ {
		links, err = h.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("podnet: list the host's links: %w", err)
	}
	return links, nil
}

func (hr *hostRoutes) dev(r netlink.Route) string { return hr.names[r.LinkIndex] }

// onPodnetBridge reports routes that belong to some podnet network's bridge
// (its block route, its local and broadcast addresses).
func (hr *hostRoutes) onPodnetBridge(r netlink.Route) bool {
	return strings.HasPrefix(hr.dev(r), "ewbr-")
}

// foreignPodRoutes describes every route to an address of PodRange that is
// not on a podnet bridge: someone else uses the range.
func (hr *hostRoutes) foreignPodRoutes() []string {
	var out []string
	for _, r := range hr.routes {
		if within(prefixOf(r.Dst), PodRange) && !hr.onPodnetBridge(r) {
			out = append(out, hr.describe(r))
		}
	}
	return out
}

// blockInUse reports whether any route on the host falls inside block b.
func (hr *hostRoutes) blockInUse(b netip.Prefix) bool {
	for _, r := range hr.routes {
		if d := prefixOf(r.Dst); within(d, PodRange) && d.Overlaps(b) {
			return true
		}
	}
	return false
}

// blockUser describes a route inside block b on a link other than bridge
// (another network that took the block while this one's bridge was gone), or
// returns "".
func (hr *hostRoutes) blockUser(b netip.Prefix, bridge string) string {
	for _, r := range hr.routes {
		if d := prefixOf(r.Dst); within(d, PodRange) && d.Overlaps(b) && hr.dev(r) != bridge {
			return hr.describe(r)
		}
	}
	return ""
}

// serviceCIDRUser describes the first route inside c that is not own's
// (own's Service CIDR route, or a host address on own's bridge), or "" when
// c is free. Broader routes (a default route, a 10.0.0.0/8 of a VPN) do not
// count: the Service CIDR route is more specific and shadows them on purpose.
func (hr *hostRoutes) serviceCIDRUser(c netip.Prefix, own *state) string {
	for _, r := range hr.routes {
		d := prefixOf(r.Dst)
		if !within(d, c) {
			continue
		}
		if r.Type == unix.RTN_UNREACHABLE && int(r.Protocol) == routeProtocol && uint32(r.Priority) == own.ServiceRouteMetric && d == own.ServiceCIDR {
			continue
		}
		if hr.dev(r) == own.Bridge {
			continue
		}
		if hr.onPodnetBridge(r) || int(r.Protocol) == routeProtocol {
			return "another podnet network (" + hr.describe(r) + ")"
		}
		return hr.describe(r)
	}
	return ""
}

// describe renders r roughly as `ip route show table all` would.
func (hr *hostRoutes) describe(r netlink.Route) string {
	var b strings.Builder
	switch r.Type {
	case unix.RTN_UNICAST:
	case unix.RTN_LOCAL:
		b.WriteString("local ")
	case unix.RTN_BROADCAST:
		b.WriteString("broadcast ")
	case unix.RTN_UNREACHABLE:
		b.WriteString("unreachable ")
	case unix.RTN_BLACKHOLE:
		b.WriteString("blackhole ")
	case unix.RTN_PROHIBIT:
		b.WriteString("prohibit ")
	default:
		fmt.Fprintf(&b, "type %d ", r.Type)
	}
	b.WriteString(prefixOf(r.Dst).String())
	if r.Gw != nil {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if d := hr.dev(r); d != "" {
		fmt.Fprintf(&b, " dev %s", d)
	}
	switch r.Table {
	case unix.RT_TABLE_MAIN:
	case unix.RT_TABLE_LOCAL:
		b.WriteString(" table local")
	default:
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Protocol != 0 {
		fmt.Fprintf(&b, " proto %d", r.Protocol)
	}
	return b.String()
}
