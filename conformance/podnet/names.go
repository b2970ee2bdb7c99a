package podnet

import (
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"regexp"
	"strconv"
)

// DefaultStateRoot is where networks record themselves when Config.StateRoot
// is empty. /run is a tmpfs: it is emptied on reboot, like the namespaces and
// links it describes.
const DefaultStateRoot = "/run/edgeway-cluster"

// PodRange holds every pod network: RFC 2544's benchmarking range, routed
// nowhere, and accepted by EndpointSlice validation (loopback is not).
var PodRange = netip.MustParsePrefix("198.18.0.0/15")

// blockBits is the size of one network's share of PodRange: /20, so 32
// networks fit and each has 4093 usable addresses.
const blockBits = 20

// routeProtocol marks every route podnet adds (rtnetlink's rtm_protocol). 238
// is not assigned in iproute2's rt_protos; `ip route` shows it as "proto 238".
const routeProtocol = 238

// globalLock serialises choosing a pod block and Service CIDR among all
// podnet users on the host, whatever their state roots.
const globalLock = "/run/edgeway-podnet.lock"

// netnsDir is where named network namespaces live (iproute2's convention, so
// `ip netns` sees them).
const netnsDir = "/run/netns"

// maxPods bounds a pod's index so that "ew-<id>-<n>" fits a link name
// (15 bytes) with a 6-character ID.
const maxPods = 9999

// serviceCIDRCandidates are tried in order when Config.ServiceCIDR is empty.
var serviceCIDRCandidates = func() []netip.Prefix {
	var out []netip.Prefix
	for i := 96; i < 128; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	return out
}()

var idPattern = regexp.MustCompile(`^[a-z0-9]{1,6}$`)

// NewID returns a fresh random network ID (6 lowercase letters and digits).
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func validateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("podnet: network ID %q must be 1 to 6 lowercase letters or digits (it prefixes link names, which the kernel limits to 15 bytes); use podnet.NewID()", id)
	}
	return nil
}

func bridgeName(id string) string { return "ewbr-" + id }

// podPrefix starts the name of every pod namespace and host veth of id. The
// trailing dash keeps ID "ab" from matching ID "abc"'s objects.
func podPrefix(id string) string { return "ew-" + id + "-" }

func podObjectName(id string, index int) string { return podPrefix(id) + strconv.Itoa(index) }

// serviceRouteMetric is the metric of id's Service CIDR route: it tells the
// route apart from any other network's even without the state directory.
func serviceRouteMetric(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte("edgeway-podnet/" + id))
	if m := h.Sum32(); m != 0 {
		return m
	}
	return 1
}

// bridgeMAC is a fixed, locally administered MAC for id's bridge. Without it
// a bridge takes the lowest MAC among its ports, which changes as pods come
// and go and leaves pods with stale ARP entries for the gateway.
func bridgeMAC(id string) net.HardwareAddr {
	h := fnv.New32a()
	h.Write([]byte("edgeway-podnet-mac/" + id))
	s := h.Sum32()
	return net.HardwareAddr{0x02, 0x65, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// block returns PodRange's k-th /20.
func block(k int) netip.Prefix {
	base := PodRange.Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(k) << (32 - blockBits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), blockBits)
}

func numBlocks() int { return 1 << (blockBits - PodRange.Bits()) }

// lastAddr is p's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostNet(a netip.Addr) *net.IPNet { return ipNet(netip.PrefixFrom(a, a.BitLen())) }

// prefixOf converts a route destination; nil is the default route.
func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked()
}

// within reports whether q lies inside p (q at least as specific as p).
func within(q, p netip.Prefix) bool {
	return q.IsValid() && q.Bits() >= p.Bits() && p.Overlaps(q)
}

func netlinkIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }
