package serviceproxy_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

// One API server, pod network and proxy for all subtests; the last one
// stops the proxy and starts another.
func TestServiceProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver and creates network namespaces")
	}
	e := newEnv(t)
	gw := e.net.Gateway()

	// Two LoadBalancer Services, each with a TCP and a UDP port, served by
	// pod a and pod b respectively.
	lbPorts := []corev1.ServicePort{servicePort("tcp", 80, corev1.ProtocolTCP), servicePort("udp", 53, corev1.ProtocolUDP)}
	e.setEndpoints(t, "lb-a", echoPorts, ready(e.a.IP))
	e.setEndpoints(t, "lb-b", echoPorts, ready(e.b.IP))
	svcA := e.createService(t, "lb-a", corev1.ServiceTypeLoadBalancer, lbPorts...)
	svcB := e.createService(t, "lb-b", corev1.ServiceTypeLoadBalancer, lbPorts...)
	lbA, lbB := e.waitLoadBalancer(t, "lb-a"), e.waitLoadBalancer(t, "lb-b")
	cipA, cipB := clusterIP(t, svcA), clusterIP(t, svcB)
	// status is written once the listeners are up; the EndpointSlices may
	// arrive a little later.
	e.waitGreeting(t, netip.AddrPortFrom(lbA, 80), "a")
	e.waitGreeting(t, netip.AddrPortFrom(lbB, 80), "b")

	t.Run("load balancers get distinct addresses", func(t *testing.T) {
		if lbA == lbB {
			t.Errorf("lb-a and lb-b both got %s", lbA)
		}
		for _, ip := range []netip.Addr{lbA, lbB} {
			if !e.net.PodCIDR().Contains(ip) || ip == gw {
				t.Errorf("load balancer address %s is not a host address of the pod block %s", ip, e.net.PodCIDR())
			}
		}
		hosts := e.hostAddresses(t)
		for _, ip := range []netip.Addr{lbA, lbB, cipA, cipB} {
			if !contains(hosts, ip) {
				t.Errorf("host addresses %v lack %s", hosts, ip)
			}
		}
	})

	t.Run("tcp through load balancer and cluster IP from host and pod", func(t *testing.T) {
		want := fmt.Sprintf("name=a port=%d from=%s", echoTCPPort, gw)
		for _, ip := range []netip.Addr{lbA, cipA} {
			target := netip.AddrPortFrom(ip, 80)
			r, err := tcpExchange(target, "from the host")
			if err != nil || r.greeting != want || r.echoed != "from the host" {
				t.Errorf("host -> %s: %+v, %v; want greeting %q and the payload echoed after the half-close", target, r, err, want)
			}
			r, err = tcpExchangeFrom(e.client, target, "from a pod")
			if err != nil || r.greeting != want || r.echoed != "from a pod" {
				t.Errorf("pod -> %s: %+v, %v; want greeting %q and the payload echoed after the half-close", target, r, err, want)
			}
		}
	})

	t.Run("udp through load balancer and cluster IP from host and pod", func(t *testing.T) {
		for _, ip := range []netip.Addr{lbA, cipA} {
			target := netip.AddrPortFrom(ip, 53)
			for _, from := range []struct {
				name     string
				exchange func(netip.AddrPort, string) (string, netip.AddrPort, error)
			}{
				{"host", udpExchange},
				{"pod", func(a netip.AddrPort, p string) (string, netip.AddrPort, error) {
					return udpExchangeFrom(e.client, a, p)
				}},
			} {
				payload := "ping from " + from.name
				want := fmt.Sprintf("name=a port=%d from=%s data=%s", echoUDPPort, gw, payload)
				reply, src, err := from.exchange(target, payload)
				if err != nil || reply != want || src != target {
					t.Errorf("%s -> %s: %q from %s, %v; want %q from the Service address", from.name, target, reply, src, err, want)
				}
			}
		}
	})

	t.Run("round robin over endpoints", func(t *testing.T) {
		e.setEndpoints(t, "rr", echoPorts, ready(e.a.IP), ready(e.b.IP))
		svc := e.createService(t, "rr", corev1.ServiceTypeClusterIP, servicePort("tcp", 80, corev1.ProtocolTCP))
		target := netip.AddrPortFrom(clusterIP(t, svc), 80)
		seen := map[string]bool{}
		eventually(t, "both endpoints answer", func() error {
			r, err := tcpExchange(target, "")
			if err != nil {
				return err
			}
			seen[r.greeting] = true
			if len(seen) < 2 {
				return fmt.Errorf("only %v answered so far", seen)
			}
			return nil
		})
	})

	t.Run("ClientIP session affinity", func(t *testing.T) {
		e.setEndpoints(t, "sticky", echoPorts, ready(e.a.IP), ready(e.b.IP))
		svc := e.createService(t, "sticky", corev1.ServiceTypeClusterIP, servicePort("tcp", 80, corev1.ProtocolTCP))
		target := netip.AddrPortFrom(clusterIP(t, svc), 80)
		e.waitGreeting(t, target, "")
		e.updateService(t, "sticky", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP })
		eventually(t, "four connections in a row reach the same endpoint", func() error {
			seen := map[string]bool{}
			for i := 0; i < 4; i++ {
				r, err := tcpExchange(target, "")
				if err != nil {
					return err
				}
				seen[r.greeting] = true
			}
			if len(seen) != 1 {
				return fmt.Errorf("reached %v", seen)
			}
			return nil
		})
	})

	t.Run("a UDP session moves when its endpoint leaves", func(t *testing.T) {
		e.setEndpoints(t, "udp-move", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "udp-move", corev1.ServiceTypeClusterIP, servicePort("udp", 53, corev1.ProtocolUDP))
		target := netip.AddrPortFrom(clusterIP(t, svc), 53)
		c, err := net.ListenUDP("udp4", nil) // one client address throughout
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ask := func() (string, error) {
			c.SetDeadline(time.Now().Add(time.Second))
			if _, err := c.WriteToUDPAddrPort([]byte("x"), target); err != nil {
				return "", err
			}
			buf := make([]byte, 1024)
			n, _, err := c.ReadFromUDPAddrPort(buf)
			return string(buf[:n]), err
		}
		eventually(t, "pod a answers", func() error {
			r, err := ask()
			if err == nil && !strings.HasPrefix(r, "name=a ") {
				err = fmt.Errorf("reply %q", r)
			}
			return err
		})
		e.setEndpoints(t, "udp-move", echoPorts, ready(e.b.IP))
		eventually(t, "pod b answers the same client address", func() error {
			r, err := ask()
			if err == nil && !strings.HasPrefix(r, "name=b ") {
				err = fmt.Errorf("reply %q", r)
			}
			return err
		})
	})

	t.Run("target port by name", func(t *testing.T) {
		// Service port 80 is named "other" and 81 "tcp": the EndpointSlice
		// ports of those names decide the target port, not the order.
		e.setEndpoints(t, "named", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "named", corev1.ServiceTypeClusterIP,
			servicePort("other", 80, corev1.ProtocolTCP), servicePort("tcp", 81, corev1.ProtocolTCP))
		cip := clusterIP(t, svc)
		e.waitGreeting(t, netip.AddrPortFrom(cip, 80), "a")
		for port, want := range map[uint16]int{80: otherTCPPort, 81: echoTCPPort} {
			target := netip.AddrPortFrom(cip, port)
			wantGreeting := fmt.Sprintf("name=a port=%d from=%s", want, gw)
			if r, err := tcpExchange(target, ""); err != nil || r.greeting != wantGreeting {
				t.Errorf("%s: %+v, %v; want %q", target, r, err, wantGreeting)
			}
		}
	})

	t.Run("no usable endpoint resets the connection at once", func(t *testing.T) {
		e.setEndpoints(t, "fading", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "fading", corev1.ServiceTypeClusterIP, servicePort("tcp", 80, corev1.ProtocolTCP))
		target := netip.AddrPortFrom(clusterIP(t, svc), 80)
		e.waitGreeting(t, target, "a")

		// Not ready and not serving: no endpoint.
		e.setEndpoints(t, "fading", echoPorts, discoveryv1.Endpoint{
			Addresses:  []string{e.a.IP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false)},
		})
		e.waitReset(t, target)

		// Serving while terminating, and nothing ready: used, as kube-proxy
		// does.
		e.setEndpoints(t, "fading", echoPorts, discoveryv1.Endpoint{
			Addresses:  []string{e.a.IP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)},
		})
		e.waitGreeting(t, target, "a")

		// Endpoints removed.
		e.setEndpoints(t, "fading", echoPorts)
		e.waitReset(t, target)
		if _, err := tcpExchangeFrom(e.client, target, ""); !isReset(err) {
			t.Errorf("pod -> %s without endpoints: %v; want the connection reset at once", target, err)
		}
	})

	t.Run("a refusing endpoint is skipped", func(t *testing.T) {
		// Nothing listens in the client pod: its address refuses.
		e.setEndpoints(t, "dead", echoPorts, ready(e.client.IP), ready(e.a.IP))
		svc := e.createService(t, "dead", corev1.ServiceTypeClusterIP, servicePort("tcp", 80, corev1.ProtocolTCP))
		target := netip.AddrPortFrom(clusterIP(t, svc), 80)
		e.waitGreeting(t, target, "a")
		want := fmt.Sprintf("name=a port=%d from=%s", echoTCPPort, gw)
		for i := 0; i < 4; i++ { // round-robin starts at each endpoint in turn
			if r, err := tcpExchange(target, ""); err != nil || r.greeting != want {
				t.Errorf("connection %d: %+v, %v; want %q", i, r, err, want)
			}
		}
	})

	t.Run("a removed port closes its listeners", func(t *testing.T) {
		e.setEndpoints(t, "ports", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "ports", corev1.ServiceTypeLoadBalancer,
			servicePort("tcp", 80, corev1.ProtocolTCP), servicePort("other", 81, corev1.ProtocolTCP))
		lb := e.waitLoadBalancer(t, "ports")
		addrs := []netip.Addr{clusterIP(t, svc), lb}
		for _, a := range addrs {
			e.waitGreeting(t, netip.AddrPortFrom(a, 81), "a")
		}
		e.updateService(t, "ports", func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1] })
		for _, a := range addrs {
			target := netip.AddrPortFrom(a, 81)
			eventually(t, "listener "+target.String()+" closes", func() error {
				_, err := tcpExchange(target, "")
				if errors.Is(err, syscall.ECONNREFUSED) {
					return nil
				}
				return fmt.Errorf("connection to the removed port: %v; want refused", err)
			})
			e.waitGreeting(t, netip.AddrPortFrom(a, 80), "a")
		}
		e.updateService(t, "ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, servicePort("other", 81, corev1.ProtocolTCP))
		})
		for _, a := range addrs {
			e.waitGreeting(t, netip.AddrPortFrom(a, 81), "a")
		}
	})

	t.Run("leaving type LoadBalancer releases the address", func(t *testing.T) {
		e.setEndpoints(t, "retype", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "retype", corev1.ServiceTypeLoadBalancer, servicePort("tcp", 80, corev1.ProtocolTCP))
		lb := e.waitLoadBalancer(t, "retype")
		cip := clusterIP(t, svc)
		if hosts := e.hostAddresses(t); !contains(hosts, lb) {
			t.Fatalf("host addresses %v lack the load balancer address %s", hosts, lb)
		}
		e.updateService(t, "retype", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })
		eventually(t, "status cleared and address released", func() error {
			s, err := e.c.CoreV1().Services(ns).Get(e.ctx, "retype", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if in := s.Status.LoadBalancer.Ingress; len(in) > 0 {
				return fmt.Errorf("status.loadBalancer.ingress = %+v", in)
			}
			if hosts := e.hostAddresses(t); contains(hosts, lb) || !contains(hosts, cip) {
				return fmt.Errorf("host addresses %v: want %s gone and the ClusterIP %s kept", hosts, lb, cip)
			}
			return nil
		})
		e.waitGreeting(t, netip.AddrPortFrom(cip, 80), "a")
	})

	t.Run("deleting a Service removes its host addresses", func(t *testing.T) {
		e.setEndpoints(t, "doomed", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "doomed", corev1.ServiceTypeLoadBalancer, servicePort("tcp", 80, corev1.ProtocolTCP))
		lb := e.waitLoadBalancer(t, "doomed")
		cip := clusterIP(t, svc)
		e.waitGreeting(t, netip.AddrPortFrom(lb, 80), "a")
		if err := e.c.CoreV1().Services(ns).Delete(e.ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "addresses of the deleted Service removed", func() error {
			if hosts := e.hostAddresses(t); contains(hosts, lb) || contains(hosts, cip) {
				return fmt.Errorf("host addresses %v still hold %s or %s", hosts, lb, cip)
			}
			return nil
		})
		target := netip.AddrPortFrom(cip, 80)
		if _, err := tcpExchange(target, ""); !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("host -> ClusterIP %s of the deleted Service: %v; want EHOSTUNREACH", target, err)
		}
	})

	t.Run("SCTP ports are reported and not served", func(t *testing.T) {
		e.setEndpoints(t, "sctp", echoPorts, ready(e.a.IP))
		svc := e.createService(t, "sctp", corev1.ServiceTypeClusterIP,
			servicePort("tcp", 80, corev1.ProtocolTCP), servicePort("sctp", 90, corev1.ProtocolSCTP))
		e.waitGreeting(t, netip.AddrPortFrom(clusterIP(t, svc), 80), "a")
		eventually(t, "a Warning event for the SCTP port", func() error {
			evs, err := e.c.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "sctp").String(),
			})
			if err != nil {
				return err
			}
			for _, ev := range evs.Items {
				if ev.Type == corev1.EventTypeWarning && ev.Reason == "ProtocolNotServed" {
					return nil
				}
			}
			return fmt.Errorf("events %v", evs.Items)
		})
	})

	t.Run("requested addresses", func(t *testing.T) { testRequestedAddresses(t, e, lbA) })

	t.Run("Stop removes every host address and a new proxy takes the same load balancer addresses", func(t *testing.T) {
		e.proxy.Stop()
		if hosts := e.hostAddresses(t); len(hosts) != 0 {
			t.Errorf("host addresses after Stop: %v; want none", hosts)
		}
		target := netip.AddrPortFrom(cipA, 80)
		if _, err := tcpExchange(target, ""); !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("host -> ClusterIP %s after Stop: %v; want EHOSTUNREACH", target, err)
		}

		e.startProxy(t)
		// Start returns with every existing Service served: no waiting.
		hosts := e.hostAddresses(t)
		for _, ip := range []netip.Addr{lbA, lbB, cipA, cipB} {
			if !contains(hosts, ip) {
				t.Errorf("host addresses after a new Start %v lack %s", hosts, ip)
			}
		}
		for name, ip := range map[string]netip.Addr{"a": lbA, "b": lbB} {
			target := netip.AddrPortFrom(ip, 80)
			want := fmt.Sprintf("name=%s port=%d from=%s", name, echoTCPPort, gw)
			if r, err := tcpExchange(target, ""); err != nil || r.greeting != want {
				t.Errorf("host -> %s right after Start: %+v, %v; want %q", target, r, err, want)
			}
		}
		if got := e.waitLoadBalancer(t, "lb-a"); got != lbA {
			t.Errorf("lb-a has %s after the restart, had %s", got, lbA)
		}
	})
}

// waitGreeting waits until a connection to target reaches echo backend
// name (any backend if name is ""); a connection that hangs fails the test
// at once.
func (e *env) waitGreeting(t *testing.T, target netip.AddrPort, name string) {
	t.Helper()
	want := fmt.Sprintf("name=%s ", name)
	if name == "" {
		want = "name="
	}
	eventually(t, fmt.Sprintf("%s reaches backend %s", target, name), func() error {
		r, err := tcpExchange(target, "")
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection to %s hung: %v", target, err)
		}
		if err != nil {
			return err
		}
		if len(r.greeting) < len(want) || r.greeting[:len(want)] != want {
			return fmt.Errorf("greeting %q", r.greeting)
		}
		return nil
	})
}

// waitReset waits until a connection to target is reset at once (no
// endpoint); one that hangs fails the test at once.
func (e *env) waitReset(t *testing.T, target netip.AddrPort) {
	t.Helper()
	eventually(t, target.String()+" resets connections", func() error {
		r, err := tcpExchange(target, "")
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection to %s hung instead of being reset: %v", target, err)
		}
		if isReset(err) {
			return nil
		}
		return fmt.Errorf("got %+v, %v", r, err)
	})
}
