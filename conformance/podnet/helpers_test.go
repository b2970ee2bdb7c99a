package podnet

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the processes the tests run in pods and as a
// process that creates a network and then crashes; TestMain picks the role
// from the environment.
const (
	envRole = "PODNET_TEST_ROLE"
	envRoot = "PODNET_TEST_ROOT"
	envID   = "PODNET_TEST_ID"

	roleListen  = "listen"  // TCP server on :podPort greeting each client with its address
	roleSleep   = "sleep"   // prints "ready" and blocks
	roleCrash   = "crash"   // creates a network with pods, prints "ready <pid>", blocks until killed
	roleForeign = "foreign" // in a private netns: routes 198.19.0.5 itself, then expects Open to refuse

	podPort = 7777
)

// testRootBase holds one state root per test process (<base>/<pid>), so a
// later run can clean up after a run that died without its t.Cleanup.
const testRootBase = "/run/edgeway-podnet-test"

var testRoot = filepath.Join(testRootBase, strconv.Itoa(os.Getpid()))

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case roleListen:
		listen()
	case roleSleep:
		fmt.Println("ready")
		blockForever()
	case roleCrash:
		crash()
	case roleForeign:
		foreign()
	case "":
		if os.Geteuid() != 0 {
			// make test-unit (-short) runs without root: skip, as the
			// end-to-end tests do.
			if flag.Parse(); testing.Short() {
				fmt.Println("podnet: skipped in -short mode (the tests need root)")
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "podnet tests create bridges, veths and network namespaces: run them as root (sudo go test ./conformance/podnet)")
			os.Exit(1)
		}
		SweepDeadProcessRoots(testRootBase)
		code := m.Run()
		os.Remove(testRoot)
		os.Remove(testRootBase) // only when no other test process uses it
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// blockForever waits to be killed. (A bare select{} would be reported as a deadlock
// by the runtime when nothing else runs.)
func blockForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func listen() {
	ln, err := net.Listen("tcp4", ":"+strconv.Itoa(podPort))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintf(c, "hello %s\n", host)
		c.Close()
	}
}

func crash() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := Open(Config{ID: os.Getenv(envID), StateRoot: os.Getenv(envRoot)})
	if err != nil {
		fail(err)
	}
	a, err := n.AddPod("a")
	if err != nil {
		fail(err)
	}
	if _, err := n.AddPod("b"); err != nil {
		fail(err)
	}
	if _, err := n.AllocateHostAddress(); err != nil {
		fail(err)
	}
	if err := n.AddHostAddress(nthAddr(n.ServiceCIDR(), 10)); err != nil {
		fail(err)
	}
	sleeper := selfCommand(roleSleep)
	// Stdout stays /dev/null: a pipe into this process would break when it
	// dies, and the sleeper's "ready" would then kill it with SIGPIPE.
	if err := a.Start(sleeper); err != nil {
		fail(err)
	}
	fmt.Printf("ready %d\n", sleeper.Process.Pid)
	blockForever()
}

func foreign() {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}
	// This process has a network namespace of its own (see
	// TestRefusesForeignUseOfThePodRange), so this address bothers nobody.
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "198.19.0.5/32", "dev", "lo"}} {
		if out, err := exec.Command(ipTool(), args...).CombinedOutput(); err != nil {
			fail("ip %v: %v: %s", args, err, out)
		}
	}
	n, err := Open(Config{ID: os.Getenv(envID), StateRoot: os.Getenv(envRoot)})
	if err == nil {
		Cleanup(os.Getenv(envRoot), n.ID())
		fail("Open succeeded although 198.19.0.5 is routed on lo")
	}
	fmt.Println(err)
	os.Exit(0)
}

// selfCommand runs this test binary in role.
func selfCommand(role string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"="+role)
	cmd.Stderr = os.Stderr
	return cmd
}

// readyLine waits for the first line a child writes ("ready ...").
func readyLine(t *testing.T, r io.Reader) string {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("child did not report ready: %v", err)
	}
	return strings.TrimSpace(line)
}

// openTestNetwork opens a network with a fresh ID under this process's test
// root, and removes it when the test ends, checking that nothing is left.
func openTestNetwork(t *testing.T, cfg Config) *Network {
	t.Helper()
	cfg.ID = NewID()
	cfg.StateRoot = testRoot
	t.Cleanup(func() { cleanupAndCheck(t, testRoot, cfg.ID) })
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return n
}

// cleanupAndCheck runs Cleanup and then checks, with iproute2's own view of
// the host, that nothing of the network is left.
func cleanupAndCheck(t *testing.T, root, id string) {
	t.Helper()
	var addrs []netip.Addr
	if st, err := loadState(filepath.Join(root, id)); err == nil {
		addrs = append(addrs, st.Gateway)
		addrs = append(addrs, st.HostAddresses...)
	}
	if err := Cleanup(root, id); err != nil {
		t.Errorf("Cleanup(%s): %v", id, err)
	}
	if err := Cleanup(root, id); err != nil {
		t.Errorf("second Cleanup(%s) is not idempotent: %v", id, err)
	}
	for _, left := range leftovers(t, id, addrs) {
		t.Errorf("left behind by network %s: %s", id, left)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s is still there (%v)", filepath.Join(root, id), err)
	}
}

// leftovers lists whatever of network id `ip -j` still shows: links and
// namespaces with its names, routes on its links or with its Service CIDR
// route's protocol and metric, and its addresses on any link.
func leftovers(t *testing.T, id string, addrs []netip.Addr) []string {
	t.Helper()
	var out []string
	ours := func(name string) bool { return name == bridgeName(id) || strings.HasPrefix(name, podPrefix(id)) }

	var links []struct {
		IfName string `json:"ifname"`
	}
	ipJSON(t, &links, "link", "show")
	for _, l := range links {
		if ours(l.IfName) {
			out = append(out, "link "+l.IfName)
		}
	}
	var nss []struct {
		Name string `json:"name"`
	}
	ipJSON(t, &nss, "netns", "list")
	for _, ns := range nss {
		if ours(ns.Name) {
			out = append(out, "netns "+ns.Name)
		}
	}
	var routes []struct {
		Type     string `json:"type"`
		Dst      string `json:"dst"`
		Dev      string `json:"dev"`
		Protocol string `json:"protocol"`
		Metric   uint32 `json:"metric"`
	}
	ipJSON(t, &routes, "-4", "route", "show", "table", "all")
	for _, r := range routes {
		// Another network may hold the same Service CIDR by now (this one's
		// was free again); the metric tells this network's route apart.
		if ours(r.Dev) || (r.Protocol == strconv.Itoa(routeProtocol) && r.Metric == serviceRouteMetric(id)) {
			out = append(out, routeString(r.Type, r.Dst, r.Dev, r.Protocol, r.Metric))
		}
	}
	var ifaces []struct {
		IfName   string `json:"ifname"`
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	ipJSON(t, &ifaces, "-4", "addr", "show")
	for _, i := range ifaces {
		if strings.HasPrefix(i.IfName, "ewbr-") && !ours(i.IfName) {
			continue // another network may hold the same block by now
		}
		for _, a := range i.AddrInfo {
			for _, want := range addrs {
				if a.Local == want.String() {
					out = append(out, "address "+a.Local+" on "+i.IfName)
				}
			}
		}
	}
	return out
}

// routeString renders a route of `ip -j route` for messages and comparison.
func routeString(typ, dst, dev, proto string, metric uint32) string {
	s := strings.TrimSpace("route " + typ + " " + dst)
	if dev != "" {
		s += " dev " + dev
	}
	return fmt.Sprintf("%s proto %s metric %d", s, proto, metric)
}

func ipTool() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	return "/usr/sbin/ip"
}

func ipJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := exec.Command(ipTool(), append([]string{"-j"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ip -j %v: %v", args, err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return // `ip -j netns list` prints nothing when there are none
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("ip -j %v: %v: %s", args, err, out)
	}
}

// startListener runs the listen role in pod p and checks that the process
// really is inside p's namespace.
func startListener(t *testing.T, p *Pod) {
	t.Helper()
	cmd := selfCommand(roleListen)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(cmd); err != nil {
		t.Fatalf("Start in %s: %v", p.Netns, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if line := readyLine(t, stdout); line != "ready" {
		t.Fatalf("listener in %s said %q", p.Netns, line)
	}
	child, ok1 := nsKeyOf(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	pod, ok2 := nsKeyOf(p.NetnsPath)
	if !ok1 || !ok2 || child != pod {
		t.Fatalf("process %d started with Pod.Start is not in %s (its netns %v, the pod's %v)", cmd.Process.Pid, p.NetnsPath, child, pod)
	}
}

// greet connects to addr (from the calling thread's namespace) and returns
// the listener's greeting, "hello <our address>".
func greet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// greetFrom is greet from inside pod p.
func greetFrom(p *Pod, addr string) (string, error) {
	var line string
	err := p.Do(func() error {
		var err error
		line, err = greet(addr)
		return err
	})
	return line, err
}

func podAddr(p *Pod) string { return netip.AddrPortFrom(p.IP, podPort).String() }

// nthAddr is p's n-th address.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// hostGreeter listens on addr:0 in the host's namespace and greets each
// client with its address; it returns the listening address.
func hostGreeter(t *testing.T, addr netip.Addr) string {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("listen on host address %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "hello %s\n", host)
			c.Close()
		}
	}()
	return ln.Addr().String()
}
