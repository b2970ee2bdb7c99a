package main

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// sealedNetns is a network namespace of the test's own with nothing but lo,
// and the default routes (IPv4 and IPv6) pointing at lo: a packet to any
// address leaves through lo, where capture sees it, and is then dropped
// (forwarding is off in a new namespace). Nothing can leave the machine
// from here, whatever the binary under test does.
//
// The namespace belongs to one OS thread, locked for the namespace's life:
// functions given to Do run there, so the sockets and processes they create
// are inside. The thread is never handed back to the Go runtime (it exits
// with its goroutine), so no other goroutine ever runs in the namespace.
type sealedNetns struct {
	work chan func()
	done chan struct{}
}

func newSealedNetns(t *testing.T) *sealedNetns {
	t.Helper()
	n := &sealedNetns{work: make(chan func()), done: make(chan struct{})}
	setup := make(chan error)
	go func() {
		defer close(n.done)
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			setup <- fmt.Errorf("unshare the network namespace (run the tests as root): %w", err)
			return
		}
		if err := sealLoopback(); err != nil {
			setup <- err
			return
		}
		setup <- nil
		for f := range n.work {
			f()
		}
	}()
	if err := <-setup; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(n.work)
		<-n.done
	})
	return n
}

// sealLoopback brings lo up and routes everything to it.
func sealLoopback() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo in the new namespace: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	for _, dst := range []string{"0.0.0.0/0", "::/0"} {
		_, ipnet, _ := net.ParseCIDR(dst)
		r := &netlink.Route{LinkIndex: lo.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: ipnet}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("route %s via lo: %w", dst, err)
		}
	}
	return nil
}

// Do runs f inside the namespace and waits for it.
func (n *sealedNetns) Do(f func()) {
	done := make(chan struct{})
	n.work <- func() { defer close(done); f() }
	<-done
}

// capture records the source and destination of every packet on lo, from
// a packet socket inside the namespace.
type capture struct {
	fd      int
	mu      sync.Mutex
	packets []packet
	stopped chan struct{}
	stop    chan struct{}
}

// packet is one captured frame: its IP addresses and ports (UDP and TCP),
// or ok false when it is not an IP packet.
type packet struct {
	ok       bool
	proto    byte
	src, dst netip.AddrPort
}

func (p packet) String() string {
	if !p.ok {
		return "non-IP frame"
	}
	return fmt.Sprintf("proto %d %s -> %s", p.proto, p.src, p.dst)
}

// startCapture opens the packet socket; call it from inside Do.
func startCapture() (*capture, error) {
	// SOCK_DGRAM: frames without their link-layer header, so the IP header
	// comes first.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &capture{fd: fd, stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *capture) read() {
	defer close(c.stopped)
	buf := make([]byte, 65536)
	stopping := false
	for {
		flags := 0
		if stopping {
			flags = unix.MSG_DONTWAIT // drain what is queued, then end
		}
		n, _, err := unix.Recvfrom(c.fd, buf, flags)
		if err != nil {
			if stopping {
				return
			}
			select {
			case <-c.stop:
				stopping = true
			default:
			}
			continue
		}
		c.mu.Lock()
		c.packets = append(c.packets, parsePacket(buf[:n]))
		c.mu.Unlock()
	}
}

// finish stops the capture after reading everything queued and returns the
// packets.
func (c *capture) finish() []packet {
	close(c.stop)
	<-c.stopped
	unix.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.packets
}

func parsePacket(b []byte) packet {
	var p packet
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		src, _ := netip.AddrFromSlice(b[12:16])
		dst, _ := netip.AddrFromSlice(b[16:20])
		p = packet{ok: true, proto: b[9], src: netip.AddrPortFrom(src, 0), dst: netip.AddrPortFrom(dst, 0)}
		if len(b) >= ihl {
			l4 = b[ihl:]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		src, _ := netip.AddrFromSlice(b[8:24])
		dst, _ := netip.AddrFromSlice(b[24:40])
		p = packet{ok: true, proto: b[6], src: netip.AddrPortFrom(src, 0), dst: netip.AddrPortFrom(dst, 0)}
		l4 = b[40:]
	default:
		return p
	}
	if (p.proto == unix.IPPROTO_UDP || p.proto == unix.IPPROTO_TCP) && len(l4) >= 4 {
		p.src = netip.AddrPortFrom(p.src.Addr(), uint16(l4[0])<<8|uint16(l4[1]))
		p.dst = netip.AddrPortFrom(p.dst.Addr(), uint16(l4[2])<<8|uint16(l4[3]))
	}
	return p
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// The control for TestSuiteCorefile's "nothing sent anywhere": a datagram
// to an address that is not loopback, sent inside a sealed namespace, is
// captured (and goes nowhere: the namespace has no link but lo). The
// address is in 198.18.0.0/15, the pod network's range, routed nowhere.
func TestSealedNetnsCapturesStrayPackets(t *testing.T) {
	ns := newSealedNetns(t)
	stray := netip.MustParseAddrPort("198.18.255.254:53")
	var c *capture
	var err error
	ns.Do(func() {
		if c, err = startCapture(); err != nil {
			return
		}
		var conn net.Conn
		if conn, err = net.Dial("udp", stray.String()); err != nil {
			return
		}
		defer conn.Close()
		_, err = conn.Write([]byte("stray"))
	})
	if err != nil {
		t.Fatal(err)
	}
	packets := c.finish()
	for _, p := range packets {
		if p.ok && p.dst == stray {
			return
		}
	}
	t.Errorf("a datagram to %s was not captured; captured %v", stray, packets)
}
