package podnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two pods talk over TCP, the host reaches a pod, and a pod reaches the
// host's gateway address; each side sees the other's real address.
func TestPodsReachEachOtherAndTheHost(t *testing.T) {
	n := openTestNetwork(t, Config{})
	if !within(n.PodCIDR(), PodRange) || n.Gateway() != n.PodCIDR().Addr().Next() {
		t.Fatalf("pod block %s / gateway %s are not a block of %s and its first address", n.PodCIDR(), n.Gateway(), PodRange)
	}
	a, err := n.AddPod("default/a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddPod("default/b")
	if err != nil {
		t.Fatal(err)
	}
	if a.IP == b.IP || !n.PodCIDR().Contains(a.IP) || !n.PodCIDR().Contains(b.IP) || a.IP == n.Gateway() || b.IP == n.Gateway() {
		t.Fatalf("pod IPs %s and %s are not distinct free addresses of %s", a.IP, b.IP, n.PodCIDR())
	}
	startListener(t, a)

	if got, err := greetFrom(b, podAddr(a)); err != nil || got != "hello "+b.IP.String() {
		t.Errorf("pod b -> pod a %s: %q, %v; want %q", podAddr(a), got, err, "hello "+b.IP.String())
	}
	if got, err := greet(podAddr(a)); err != nil || got != "hello "+n.Gateway().String() {
		t.Errorf("host -> pod a %s: %q, %v; want %q (the host speaks from its gateway address)", podAddr(a), got, err, "hello "+n.Gateway().String())
	}
	gw := hostGreeter(t, n.Gateway())
	if got, err := greetFrom(b, gw); err != nil || got != "hello "+b.IP.String() {
		t.Errorf("pod b -> host %s: %q, %v; want %q", gw, got, err, "hello "+b.IP.String())
	}
}

// A Service IP nobody serves fails at once, from a pod and from the host:
// the error is EHOSTUNREACH from an unreachable route, not a timeout.
func TestUnassignedServiceIPIsUnreachable(t *testing.T) {
	// An explicit Service CIDR, outside the automatic candidates, random so
	// that concurrent test processes do not collide.
	cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + rand.IntN(128)), 0, 0}), 16)
	n := openTestNetwork(t, Config{ServiceCIDR: cidr})
	if n.ServiceCIDR() != cidr {
		t.Fatalf("ServiceCIDR() = %s, want the configured %s", n.ServiceCIDR(), cidr)
	}
	p, err := n.AddPod("p")
	if err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(nthAddr(n.ServiceCIDR(), 99), 80).String()
	_, err = greetFrom(p, target)
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("pod -> unassigned Service IP %s: %v; want EHOSTUNREACH", target, err)
	}
	_, err = greet(target)
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("host -> unassigned Service IP %s: %v; want EHOSTUNREACH", target, err)
	}
}

// Host addresses (a LoadBalancer address from the pod block and a ClusterIP)
// are reachable from the host and from every pod, also pods added later, and
// unreachable again once removed.
func TestHostAddresses(t *testing.T) {
	n := openTestNetwork(t, Config{})
	early, err := n.AddPod("early")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := n.AllocateHostAddress()
	if err != nil {
		t.Fatal(err)
	}
	if !n.PodCIDR().Contains(lb) || lb == early.IP || lb == n.Gateway() {
		t.Fatalf("AllocateHostAddress = %s, want a free address of %s", lb, n.PodCIDR())
	}
	clusterIP := nthAddr(n.ServiceCIDR(), 10)
	if err := n.AddHostAddress(clusterIP); err != nil {
		t.Fatal(err)
	}
	if err := n.AddHostAddress(clusterIP); err != nil {
		t.Errorf("adding host address %s twice: %v", clusterIP, err)
	}
	late, err := n.AddPod("late")
	if err != nil {
		t.Fatal(err)
	}
	if late.IP == lb {
		t.Fatalf("pod got host address %s", lb)
	}
	got, err := n.HostAddresses()
	if err != nil || len(got) != 2 {
		t.Fatalf("HostAddresses() = %v, %v; want [%s %s]", got, err, lb, clusterIP)
	}

	for _, addr := range []netip.Addr{lb, clusterIP} {
		ln := hostGreeter(t, addr)
		if got, err := greet(ln); err != nil || got != "hello "+addr.String() {
			t.Errorf("host -> host address %s: %q, %v", ln, got, err)
		}
		for _, p := range []*Pod{early, late} {
			if got, err := greetFrom(p, ln); err != nil || got != "hello "+p.IP.String() {
				t.Errorf("pod %s -> host address %s: %q, %v; want %q", p.Name, ln, got, err, "hello "+p.IP.String())
			}
		}
	}

	if err := n.RemoveHostAddress(clusterIP); err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(clusterIP, 80).String()
	if _, err := greetFrom(late, target); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("pod -> removed ClusterIP %s: %v; want EHOSTUNREACH", target, err)
	}
	if _, err := greet(target); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("host -> removed ClusterIP %s: %v; want EHOSTUNREACH", target, err)
	}

	for _, bad := range []netip.Addr{netip.MustParseAddr("192.0.2.99"), n.Gateway(), early.IP, n.PodCIDR().Addr()} {
		if err := n.AddHostAddress(bad); err == nil {
			t.Errorf("AddHostAddress(%s) succeeded; only free addresses of the pod block or the Service CIDR may become host addresses", bad)
		}
	}
}

// A restarted node re-opens its network and finds its pods and allocations:
// no IP in use is handed out again, and a removed pod's IP is not reused at
// once.
func TestReopenKeepsPodsAndAllocations(t *testing.T) {
	n := openTestNetwork(t, Config{})
	a, err := n.AddPod("a")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := n.AllocateHostAddress()
	if err != nil {
		t.Fatal(err)
	}

	again, err := Open(Config{ID: n.ID(), StateRoot: n.StateRoot()})
	if err != nil {
		t.Fatalf("re-opening %s: %v", n.ID(), err)
	}
	if again.PodCIDR() != n.PodCIDR() || again.ServiceCIDR() != n.ServiceCIDR() || again.Gateway() != n.Gateway() {
		t.Fatalf("re-opened network has %s/%s/%s, want %s/%s/%s", again.PodCIDR(), again.ServiceCIDR(), again.Gateway(), n.PodCIDR(), n.ServiceCIDR(), n.Gateway())
	}
	if _, err := Open(Config{ID: n.ID(), StateRoot: n.StateRoot(), ServiceCIDR: netip.MustParsePrefix("10.121.0.0/16")}); err == nil {
		t.Errorf("re-opening with another Service CIDR succeeded")
	}
	if p, err := again.Pod("a"); err != nil || p == nil || p.IP != a.IP || p.NetnsPath != a.NetnsPath {
		t.Fatalf("Pod(a) after re-open = %+v, %v; want %+v", p, err, a)
	}
	if _, err := again.AddPod("a"); err == nil {
		t.Errorf("AddPod(a) twice succeeded")
	}
	b, err := again.AddPod("b")
	if err != nil {
		t.Fatal(err)
	}
	if b.IP == a.IP || b.IP == lb {
		t.Errorf("pod b got %s, already in use (a %s, host address %s)", b.IP, a.IP, lb)
	}
	if err := again.RemovePod("a"); err != nil {
		t.Fatal(err)
	}
	if err := again.RemovePod("a"); err != nil {
		t.Errorf("removing a removed pod: %v", err)
	}
	if _, err := os.Stat(a.NetnsPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still exists after RemovePod (%v)", a.NetnsPath, err)
	}
	c, err := n.AddPod("c") // through the first object: state is shared
	if err != nil {
		t.Fatal(err)
	}
	if c.IP == a.IP || c.IP == b.IP || c.IP == lb {
		t.Errorf("pod c got %s; a had %s, b has %s, host address %s", c.IP, a.IP, b.IP, lb)
	}
	pods, err := n.Pods()
	if err != nil || len(pods) != 2 || pods[0].Name != "b" || pods[1].Name != "c" {
		t.Errorf("Pods() = %v, %v; want b and c", pods, err)
	}
}

// A process creates a network, pods, host addresses and a pod process, and
// dies without cleaning up. Cleanup with nothing but the ID removes all of
// it, the pod process included.
func TestCleanupAfterCrash(t *testing.T) {
	id := NewID()
	var addrs []netip.Addr
	t.Cleanup(func() { cleanupAndCheck(t, testRoot, id) }) // in case the test fails half-way

	cmd := selfCommand(roleCrash)
	cmd.Env = append(cmd.Env, envRoot+"="+testRoot, envID+"="+id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := readyLine(t, stdout)
	sleeper, err := strconv.Atoi(strings.TrimPrefix(line, "ready "))
	if err != nil {
		t.Fatalf("crashing child said %q", line)
	}
	cmd.Process.Kill() // the crash
	cmd.Wait()

	st, err := loadState(filepath.Join(testRoot, id))
	if err != nil {
		t.Fatal(err)
	}
	addrs = append(append(addrs, st.Gateway), st.HostAddresses...)
	if len(st.Pods) != 2 || len(st.HostAddresses) != 2 {
		t.Fatalf("the crashed child recorded %d pods and %d host addresses, want 2 and 2", len(st.Pods), len(st.HostAddresses))
	}
	left := leftovers(t, id, addrs)
	serviceRoute := routeString("unreachable", st.ServiceCIDR.String(), "", strconv.Itoa(routeProtocol), serviceRouteMetric(id))
	for _, want := range []string{"link " + bridgeName(id), "netns " + st.Pods["a"].Netns, "netns " + st.Pods["b"].Netns, "link " + st.Pods["a"].Veth, serviceRoute} {
		if !contains(left, want) {
			t.Errorf("after the crash, %s is missing (found %v): the test does not test what it claims", want, left)
		}
	}
	podNS, _ := nsKeyOf(filepath.Join(netnsDir, st.Pods["a"].Netns))
	if k, ok := nsKeyOf(fmt.Sprintf("/proc/%d/ns/net", sleeper)); !ok || k != podNS {
		t.Fatalf("the crashed child's pod process %d is not running in pod a's namespace", sleeper)
	}

	if err := Cleanup(testRoot, id); err != nil {
		t.Fatalf("Cleanup after crash: %v", err)
	}
	for _, l := range leftovers(t, id, addrs) {
		t.Errorf("left behind after Cleanup: %s", l)
	}
	if alive(sleeper) {
		t.Errorf("pod process %d survived Cleanup", sleeper)
	}
}

// With its state directory lost, Cleanup still finds a network by its ID:
// namespaces and links by name, the Service CIDR route by the ID's metric.
func TestCleanupWithoutState(t *testing.T) {
	n := openTestNetwork(t, Config{})
	for _, name := range []string{"a", "b"} {
		if _, err := n.AddPod(name); err != nil {
			t.Fatal(err)
		}
	}
	lb, err := n.AllocateHostAddress()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddHostAddress(nthAddr(n.ServiceCIDR(), 10)); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{n.Gateway(), lb, nthAddr(n.ServiceCIDR(), 10)}
	if err := os.RemoveAll(n.StateDir()); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, n.ID(), addrs); len(left) < 6 { // bridge, 2 veths, 2 netns, route, addresses...
		t.Fatalf("before Cleanup only %v exist: the test does not test what it claims", left)
	}
	if err := Cleanup(n.StateRoot(), n.ID()); err != nil {
		t.Fatal(err)
	}
	for _, l := range leftovers(t, n.ID(), addrs) {
		t.Errorf("left behind after Cleanup without state: %s", l)
	}
	if _, err := n.AddPod("c"); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("AddPod on a cleaned-up network: %v; want an error saying it is gone", err)
	}
}

// Two networks on one host get different pod blocks and Service CIDRs, each
// works, neither reaches the other's pods, and removing one leaves the other
// working.
func TestTwoNetworksCoexist(t *testing.T) {
	n1 := openTestNetwork(t, Config{})
	n2 := openTestNetwork(t, Config{})
	if n1.PodCIDR().Overlaps(n2.PodCIDR()) || n1.ServiceCIDR().Overlaps(n2.ServiceCIDR()) || n1.Bridge() == n2.Bridge() {
		t.Fatalf("networks share addresses: %s %s %s / %s %s %s", n1.Bridge(), n1.PodCIDR(), n1.ServiceCIDR(), n2.Bridge(), n2.PodCIDR(), n2.ServiceCIDR())
	}
	if _, err := Open(Config{ID: NewID(), StateRoot: testRoot, ServiceCIDR: n1.ServiceCIDR()}); err == nil {
		t.Errorf("a third network got Service CIDR %s, which network %s has", n1.ServiceCIDR(), n1.ID())
	}

	pods := map[*Network][2]*Pod{}
	for _, n := range []*Network{n1, n2} {
		var pair [2]*Pod
		for i := range pair {
			p, err := n.AddPod(fmt.Sprintf("p%d", i))
			if err != nil {
				t.Fatal(err)
			}
			pair[i] = p
		}
		startListener(t, pair[0])
		pods[n] = pair
	}
	check := func(n *Network) {
		t.Helper()
		server, client := pods[n][0], pods[n][1]
		if got, err := greetFrom(client, podAddr(server)); err != nil || got != "hello "+client.IP.String() {
			t.Errorf("network %s: pod -> pod: %q, %v", n.ID(), got, err)
		}
		if got, err := greet(podAddr(server)); err != nil || got != "hello "+n.Gateway().String() {
			t.Errorf("network %s: host -> pod: %q, %v", n.ID(), got, err)
		}
	}
	check(n1)
	check(n2)

	// Across networks there is no path: the host does not forward. (A
	// refusal would say the packet got somewhere; here it just goes nowhere,
	// so the dial gives up after its own deadline.)
	err := pods[n1][1].Do(func() error {
		c, err := dialQuick(podAddr(pods[n2][0]))
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Errorf("a pod of network %s reached a pod of network %s", n1.ID(), n2.ID())
	}

	if err := Cleanup(testRoot, n1.ID()); err != nil {
		t.Fatal(err)
	}
	check(n2)
}

// Open refuses a host where something else routes part of 198.18.0.0/15.
// The foreign route lives in a network namespace of the child's own, so the
// host is never touched.
func TestRefusesForeignUseOfThePodRange(t *testing.T) {
	cmd := selfCommand(roleForeign)
	cmd.Env = append(cmd.Env, envRoot+"="+testRoot, envID+"="+NewID())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if msg := string(out); !strings.Contains(msg, "198.19.0.5") || !strings.Contains(msg, "dev lo") {
		t.Errorf("Open's refusal does not name the foreign route: %s", msg)
	}

	if _, err := Open(Config{ID: "Not-An-ID", StateRoot: testRoot}); err == nil {
		t.Errorf("Open accepted ID %q", "Not-An-ID")
	}
	if _, err := Open(Config{ID: NewID(), StateRoot: testRoot, ServiceCIDR: netip.MustParsePrefix("198.19.0.0/16")}); err == nil {
		t.Errorf("Open accepted a Service CIDR inside the pod range")
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// alive reports whether pid runs (a zombie waiting for a parent that does not
// reap it counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func dialQuick(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp4", addr, 500*time.Millisecond)
}

// BenchmarkAddRemovePod measures what a pod's network costs the node.
func BenchmarkAddRemovePod(b *testing.B) {
	id := NewID()
	b.Cleanup(func() {
		if err := Cleanup(testRoot, id); err != nil {
			b.Error(err)
		}
	})
	n, err := Open(Config{ID: id, StateRoot: testRoot})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		name := strconv.Itoa(i)
		if _, err := n.AddPod(name); err != nil {
			b.Fatal(err)
		}
		if err := n.RemovePod(name); err != nil {
			b.Fatal(err)
		}
	}
}
