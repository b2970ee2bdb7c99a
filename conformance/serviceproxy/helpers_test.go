package serviceproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/conformance/podnet"
	"github.com/edgeway/edgeway/conformance/serviceproxy"
)

const ns = "default"

// env is one API server, one pod network with two echo pods (a and b) and a
// client pod, and the proxy under test, shared by the subtests (each start
// costs seconds of 2 shared cores).
type env struct {
	ctx    context.Context
	server *apiserver.Server
	c      kubernetes.Interface
	net    *podnet.Network
	a, b   *podnet.Pod // echo backends named "a" and "b"
	client *podnet.Pod // runs nothing; connections are made from inside it
	proxy  *serviceproxy.Proxy
	log    *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n, err := podnet.Open(podnet.Config{ID: podnet.NewID(), StateRoot: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := podnet.Cleanup(testRoot, n.ID()); err != nil {
			t.Errorf("podnet cleanup: %v", err)
		}
	})
	// ClusterIPs from the network's own Service CIDR (free on this host,
	// never shared with a concurrent test process).
	s := apiserver.StartWith(t, apiserver.Options{ServiceCIDR: n.ServiceCIDR()})
	c, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &env{ctx: ctx, server: s, c: c, net: n, log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	e.a = startEcho(t, n, "a")
	e.b = startEcho(t, n, "b")
	if e.client, err = n.AddPod("client"); err != nil {
		t.Fatal(err)
	}
	e.startProxy(t)
	return e
}

// startProxy starts a proxy, stopped when the test ends unless stopped
// before.
func (e *env) startProxy(t *testing.T) {
	t.Helper()
	p, err := serviceproxy.Start(e.ctx, serviceproxy.Config{REST: e.server.Config, Network: e.net, Log: e.log})
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	t.Cleanup(p.Stop) // Stop is idempotent
}

// testWriter sends the proxy's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startEcho adds pod name and runs the echo role in it.
func startEcho(t *testing.T, n *podnet.Network, name string) *podnet.Pod {
	t.Helper()
	p, err := n.AddPod(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=echo", envName+"="+name)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("echo backend %s: %q, %v", name, line, err)
	}
	return p
}

// servicePort is a Service port whose targetPort is a name (the proxy
// resolves it through the EndpointSlice port of the same name).
func servicePort(name string, port int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: proto, TargetPort: intstr.FromString("target-" + name)}
}

func (e *env) createService(t *testing.T, name string, typ corev1.ServiceType, ports ...corev1.ServicePort) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: typ, Ports: ports},
	}
	svc, err := e.c.CoreV1().Services(ns).Create(e.ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service %s: %v", name, err)
	}
	return svc
}

// updateService applies change to the current Service, retrying conflicts
// (the proxy writes status).
func (e *env) updateService(t *testing.T, name string, change func(*corev1.Service)) *corev1.Service {
	t.Helper()
	for {
		svc, err := e.c.CoreV1().Services(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(svc)
		svc, err = e.c.CoreV1().Services(ns).Update(e.ctx, svc, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			t.Fatalf("update Service %s: %v", name, err)
		}
		return svc
	}
}

// slicePort is an EndpointSlice port: the name of the Service port it
// serves and the number it resolves to.
func slicePort(name string, port int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(proto)}
}

func ready(ip netip.Addr) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
}

// echoPorts are the slice ports of the echo backend for Service ports named
// tcp, other and udp.
var echoPorts = []discoveryv1.EndpointPort{
	slicePort("tcp", echoTCPPort, corev1.ProtocolTCP),
	slicePort("other", otherTCPPort, corev1.ProtocolTCP),
	slicePort("udp", echoUDPPort, corev1.ProtocolUDP),
}

// setEndpoints writes the Service's one EndpointSlice (by hand: no
// controller-manager runs).
func (e *env) setEndpoints(t *testing.T, service string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) {
	t.Helper()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: service + "-test", Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "serviceproxy-test"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       ports,
	}
	api := e.c.DiscoveryV1().EndpointSlices(ns)
	cur, err := api.Get(e.ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(e.ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(e.ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("write EndpointSlice of %s: %v", service, err)
	}
}

// clusterIP is the Service's ClusterIP.
func clusterIP(t *testing.T, svc *corev1.Service) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		t.Fatalf("Service %s has ClusterIP %q: %v", svc.Name, svc.Spec.ClusterIP, err)
	}
	return ip
}

// waitLoadBalancer waits until the Service's status names one address and
// returns it.
func (e *env) waitLoadBalancer(t *testing.T, name string) netip.Addr {
	t.Helper()
	var ip netip.Addr
	eventually(t, "Service "+name+" gets a load balancer address", func() error {
		svc, err := e.c.CoreV1().Services(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		in := svc.Status.LoadBalancer.Ingress
		if len(in) != 1 {
			return fmt.Errorf("status.loadBalancer.ingress = %+v", in)
		}
		if in[0].IPMode == nil || *in[0].IPMode != corev1.LoadBalancerIPModeVIP || in[0].Hostname != "" {
			return fmt.Errorf("status.loadBalancer.ingress[0] = %+v, want an IP with ipMode VIP", in[0])
		}
		ip, err = netip.ParseAddr(in[0].IP)
		return err
	})
	return ip
}

// eventually retries check until it succeeds; it fails the test with the
// last error after a generous minute (the proxy applies changes from a
// watch, so they arrive a little later).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostAddresses is the network's host addresses.
func (e *env) hostAddresses(t *testing.T) []netip.Addr {
	t.Helper()
	got, err := e.net.HostAddresses()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// ioTimeout bounds every exchange: an answer that does not come is a hang,
// which the proxy must never cause.
const ioTimeout = 10 * time.Second

// tcpReply is what a client got over one connection.
type tcpReply struct {
	greeting string // the backend's first line, "name=... port=... from=..."
	echoed   string // the rest: what the backend echoed
}

// tcpExchange connects to addr, sends payload, half-closes and reads until
// the backend half-closes too.
func tcpExchange(addr netip.AddrPort, payload string) (tcpReply, error) {
	c, err := net.DialTimeout("tcp4", addr.String(), ioTimeout)
	if err != nil {
		return tcpReply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, payload); err != nil {
		return tcpReply{}, err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return tcpReply{}, err
	}
	all, err := io.ReadAll(c)
	if err != nil {
		return tcpReply{}, err
	}
	greeting, rest, ok := strings.Cut(string(all), "\n")
	if !ok {
		return tcpReply{}, fmt.Errorf("connection to %s closed after %q: %w", addr, all, errNoGreeting)
	}
	return tcpReply{greeting: greeting, echoed: rest}, nil
}

// tcpExchangeFrom is tcpExchange from inside pod p.
func tcpExchangeFrom(p *podnet.Pod, addr netip.AddrPort, payload string) (tcpReply, error) {
	var r tcpReply
	err := p.Do(func() error {
		var err error
		r, err = tcpExchange(addr, payload)
		return err
	})
	return r, err
}

// udpExchange sends payload to addr from an unconnected socket and returns
// the reply and the address it came from.
func udpExchange(addr netip.AddrPort, payload string) (string, netip.AddrPort, error) {
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.WriteToUDPAddrPort([]byte(payload), addr); err != nil {
		return "", netip.AddrPort{}, err
	}
	buf := make([]byte, 65536)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	return string(buf[:n]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
}

func udpExchangeFrom(p *podnet.Pod, addr netip.AddrPort, payload string) (string, netip.AddrPort, error) {
	var reply string
	var from netip.AddrPort
	err := p.Do(func() error {
		var err error
		reply, from, err = udpExchange(addr, payload)
		return err
	})
	return reply, from, err
}

// errNoGreeting: the connection ended before the backend's first line.
var errNoGreeting = errors.New("closed without the backend's greeting")

// isReset reports whether err says the proxy accepted the connection and
// closed it at once (a reset, or a close before any byte): neither a
// timeout nor a refused connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, errNoGreeting)
}

// contains reports whether addrs holds a.
func contains(addrs []netip.Addr, a netip.Addr) bool { return slices.Contains(addrs, a) }
