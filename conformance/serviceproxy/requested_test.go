package serviceproxy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/edgeway/edgeway/conformance/serviceproxy"
)

// testNetAddress is in 192.0.2.0/24 (TEST-NET-1, RFC 5737): outside every
// pod block, so the proxy must refuse it. It is only ever written into a
// Service; nothing connects to it.
var testNetAddress = netip.MustParseAddr("192.0.2.10")

// testRequestedAddresses: addresses asked for with the annotation or
// spec.loadBalancerIP. lbA is the address Service lb-a holds.
func testRequestedAddresses(t *testing.T, e *env, lbA netip.Addr) {
	// Free addresses at the end of the pod block, far from where the
	// allocator hands out pod IPs and unrequested load balancer addresses.
	last := e.net.PodCIDR().Masked().Addr()
	for i := 0; i < 1<<(32-e.net.PodCIDR().Bits())-1; i++ {
		last = last.Next()
	}
	free1, free2, free3 := last.Prev(), last.Prev().Prev(), last.Prev().Prev().Prev()
	ask := func(ips ...netip.Addr) map[string]string {
		var s []string
		for _, ip := range ips {
			s = append(s, ip.String())
		}
		return map[string]string{serviceproxy.LoadBalancerIPsAnnotation: strings.Join(s, ", ")}
	}
	createAsking := func(t *testing.T, name string, annotations map[string]string, loadBalancerIP string) {
		t.Helper()
		e.setEndpoints(t, name, echoPorts, ready(e.a.IP))
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: loadBalancerIP,
				Ports: []corev1.ServicePort{servicePort("tcp", 80, corev1.ProtocolTCP)}},
		}
		if _, err := e.c.CoreV1().Services(ns).Create(e.ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Service %s: %v", name, err)
		}
	}

	t.Run("the first usable requested address is given, the others are reported", func(t *testing.T) {
		createAsking(t, "asks", ask(testNetAddress, free1, free2), "")
		if got := e.waitLoadBalancer(t, "asks"); got != free1 {
			t.Fatalf("load balancer address %s; want %s, the first usable one asked for", got, free1)
		}
		e.waitGreeting(t, netip.AddrPortFrom(free1, 80), "a")
		e.waitEvent(t, "asks", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", testNetAddress.String()+", which the local load balancer cannot give: it is outside the pod network")
		e.waitEvent(t, "asks", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", free2.String()+" as well")
		if hosts := e.hostAddresses(t); !contains(hosts, free1) || contains(hosts, free2) || contains(hosts, testNetAddress) {
			t.Errorf("host addresses %v: want %s and neither %s nor %s", hosts, free1, free2, testNetAddress)
		}
	})

	t.Run("a request changed to an address that cannot be given leaves no address", func(t *testing.T) {
		e.updateService(t, "asks", func(s *corev1.Service) { s.Annotations = ask(testNetAddress) })
		eventually(t, "status cleared and address released", func() error {
			s, err := e.c.CoreV1().Services(ns).Get(e.ctx, "asks", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if in := s.Status.LoadBalancer.Ingress; len(in) > 0 {
				return fmt.Errorf("status.loadBalancer.ingress = %+v", in)
			}
			if hosts := e.hostAddresses(t); contains(hosts, free1) {
				return fmt.Errorf("host addresses %v still hold %s", hosts, free1)
			}
			return nil
		})
		e.waitEvent(t, "asks", corev1.EventTypeWarning, "LoadBalancerIPNotAssigned", "none of the addresses annotation "+serviceproxy.LoadBalancerIPsAnnotation+" asks for can be given")
		// Changed back: the address is given again.
		e.updateService(t, "asks", func(s *corev1.Service) { s.Annotations = ask(free1) })
		if got := e.waitLoadBalancer(t, "asks"); got != free1 {
			t.Fatalf("load balancer address %s; want %s", got, free1)
		}
	})

	t.Run("an address another Service, a pod, the gateway or the broadcast has is not given", func(t *testing.T) {
		createAsking(t, "asks-taken", ask(lbA, e.a.IP, e.net.Gateway(), last), "")
		e.waitEvent(t, "asks-taken", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", lbA.String()+", which the local load balancer cannot give: the Service default/lb-a has it")
		e.waitEvent(t, "asks-taken", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", e.a.IP.String()+", which the local load balancer cannot give: it is the IP of pod")
		e.waitEvent(t, "asks-taken", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", e.net.Gateway().String()+", which the local load balancer cannot give: it is the pod network's gateway")
		e.waitEvent(t, "asks-taken", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", last.String()+", which the local load balancer cannot give: it is the network or broadcast address")
		e.waitEvent(t, "asks-taken", corev1.EventTypeWarning, "LoadBalancerIPNotAssigned", "")
		s, err := e.c.CoreV1().Services(ns).Get(e.ctx, "asks-taken", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if in := s.Status.LoadBalancer.Ingress; len(in) > 0 {
			t.Errorf("status.loadBalancer.ingress = %+v; want none", in)
		}
	})

	t.Run("an address another Service gives back goes to the Service waiting for it", func(t *testing.T) {
		createAsking(t, "asks-too", ask(free1), "")
		e.waitEvent(t, "asks-too", corev1.EventTypeWarning, "LoadBalancerIPNotUsable", "the Service default/asks has it")
		if err := e.c.CoreV1().Services(ns).Delete(e.ctx, "asks", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := e.waitLoadBalancer(t, "asks-too"); got != free1 {
			t.Fatalf("load balancer address %s; want %s", got, free1)
		}
		e.waitGreeting(t, netip.AddrPortFrom(free1, 80), "a")
	})

	t.Run("spec.loadBalancerIP when there is no annotation", func(t *testing.T) {
		createAsking(t, "asks-field", nil, free3.String())
		if got := e.waitLoadBalancer(t, "asks-field"); got != free3 {
			t.Fatalf("load balancer address %s; want %s from spec.loadBalancerIP", got, free3)
		}
		e.waitGreeting(t, netip.AddrPortFrom(free3, 80), "a")
	})
}

// waitEvent waits for an event of the Service with the type and reason
// whose message contains substr.
func (e *env) waitEvent(t *testing.T, service, typ, reason, substr string) {
	t.Helper()
	eventually(t, fmt.Sprintf("a %s event %s on %s saying %q", typ, reason, service, substr), func() error {
		evs, err := e.c.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", service).String(),
		})
		if err != nil {
			return err
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Type == typ && ev.Reason == reason && strings.Contains(ev.Message, substr) {
				return nil
			}
			seen = append(seen, ev.Type+" "+ev.Reason+": "+ev.Message)
		}
		return fmt.Errorf("events so far: %q", seen)
	})
}
