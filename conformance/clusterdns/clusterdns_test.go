package clusterdns

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeway/edgeway/conformance/apiserver"
)

// One API server for the package: each start costs seconds of the 2 shared
// cores. Every subtest uses its own namespace.
func TestClusterDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	api := apiserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := Start(ctx, Config{
		REST:   api.Config,
		Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Log:    slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := &tclient{t: t, addr: s.Addr().String()}
	k := &kube{t: t, ctx: ctx, kc: kc}

	t.Run("ClusterIP", func(t *testing.T) {
		c, k := c.with(t), k.with(t)
		ns := k.namespace("clusterip")
		svc := k.service(ns, "web", corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		}})
		name := "web." + ns + ".svc.cluster.local."
		for _, proto := range []string{"udp", "tcp"} {
			m := c.wait(proto, name, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) > 0 })
			if got, want := answers(m), []string{name + " 5 A " + svc.Spec.ClusterIP}; !slices.Equal(got, want) {
				t.Errorf("%s A %s = %q, want %q", proto, name, got, want)
			}
			if !m.Authoritative {
				t.Errorf("%s A %s: answer not authoritative", proto, name)
			}
			// AAAA of an IPv4-only Service: NODATA at once, with the SOA.
			m = c.query(proto, name, dns.TypeAAAA)
			c.expectNoData(m, name)
		}
		// Case-insensitive, case-preserving.
		upper := "WEB." + strings.ToUpper(ns) + ".svc.Cluster.Local."
		if got, want := answers(c.query("udp", upper, dns.TypeA)), []string{upper + " 5 A " + svc.Spec.ClusterIP}; !slices.Equal(got, want) {
			t.Errorf("A %s = %q, want %q", upper, got, want)
		}

		srvName := "_http._tcp." + name
		m := c.query("udp", srvName, dns.TypeSRV)
		if got, want := answers(m), []string{srvName + " 5 SRV 0 100 80 " + name}; !slices.Equal(got, want) {
			t.Errorf("SRV %s = %q, want %q", srvName, got, want)
		}
		if got, want := records(m.Extra, dns.TypeA), []string{name + " 5 A " + svc.Spec.ClusterIP}; !slices.Equal(got, want) {
			t.Errorf("SRV %s additional = %q, want %q", srvName, got, want)
		}
		udpSRV := "_dns._udp." + name
		if got, want := answers(c.query("tcp", udpSRV, dns.TypeSRV)), []string{udpSRV + " 5 SRV 0 100 53 " + name}; !slices.Equal(got, want) {
			t.Errorf("SRV %s = %q, want %q", udpSRV, got, want)
		}
		// SRV of the Service name: every named port.
		if got := answers(c.query("udp", name, dns.TypeSRV)); len(got) != 2 {
			t.Errorf("SRV %s = %q, want the http and dns ports", name, got)
		}
		// A name that exists for SRV only: NODATA for A.
		c.expectNoData(c.query("udp", srvName, dns.TypeA), srvName)
		c.expectNXDomain(c.query("udp", "_http._udp."+name, dns.TypeSRV))
		c.expectNXDomain(c.query("udp", "_nope._tcp."+name, dns.TypeSRV))
		// The namespace exists as a name; endpoint names of a ClusterIP
		// Service do not.
		c.expectNoData(c.query("udp", ns+".svc.cluster.local.", dns.TypeA), ns+".svc.cluster.local.")
		c.expectNXDomain(c.query("udp", "x."+name, dns.TypeA))
	})

	t.Run("Headless", func(t *testing.T) {
		c, k := c.with(t), k.with(t)
		ns := k.namespace("headless")
		k.service(ns, "db", corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
		})
		k.slice(ns, "db", "db-1", []discoveryv1.Endpoint{
			{Addresses: []string{"198.18.200.11"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"198.18.200.12"}}, // readiness unknown: ready
			{Addresses: []string{"198.18.200.13"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		}, 5433)
		name := "db." + ns + ".svc.cluster.local."
		for _, proto := range []string{"udp", "tcp"} {
			m := c.wait(proto, name, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) == 2 })
			if got, want := answers(m), []string{name + " 5 A 198.18.200.11", name + " 5 A 198.18.200.12"}; !slices.Equal(got, want) {
				t.Errorf("%s A %s = %q, want the ready endpoints %q", proto, name, got, want)
			}
		}
		host := "db-0." + name
		if got, want := answers(c.query("udp", host, dns.TypeA)), []string{host + " 5 A 198.18.200.11"}; !slices.Equal(got, want) {
			t.Errorf("A %s = %q, want %q", host, got, want)
		}
		c.expectNoData(c.query("udp", host, dns.TypeAAAA), host)
		dashedName := "198-18-200-12." + name
		if got, want := answers(c.query("tcp", dashedName, dns.TypeA)), []string{dashedName + " 5 A 198.18.200.12"}; !slices.Equal(got, want) {
			t.Errorf("A %s = %q, want %q", dashedName, got, want)
		}
		c.expectNXDomain(c.query("udp", "198-18-200-13."+name, dns.TypeA)) // not ready
		c.expectNXDomain(c.query("udp", "db-1."+name, dns.TypeA))

		srvName := "_pg._tcp." + name
		m := c.query("udp", srvName, dns.TypeSRV)
		// The port number comes from the EndpointSlice (the target port).
		want := []string{srvName + " 5 SRV 0 100 5433 " + host, srvName + " 5 SRV 0 100 5433 " + dashedName}
		if got := answers(m); !slices.Equal(got, want) {
			t.Errorf("SRV %s = %q, want %q", srvName, got, want)
		}
		if got, want := records(m.Extra, dns.TypeA), []string{host + " 5 A 198.18.200.11", dashedName + " 5 A 198.18.200.12"}; !slices.Equal(got, want) {
			t.Errorf("SRV %s additional = %q, want %q", srvName, got, want)
		}

		t.Run("update", func(t *testing.T) {
			k.updateSlice(ns, "db-1", func(es *discoveryv1.EndpointSlice) {
				es.Endpoints[2].Conditions.Ready = ptr.To(true)
			})
			c.wait("udp", name, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) == 3 })
			k.deleteService(ns, "db")
			c.wait("udp", name, dns.TypeA, func(m *dns.Msg) bool { return m.Rcode == dns.RcodeNameError })
		})
	})

	t.Run("ExternalName", func(t *testing.T) {
		c, k := c.with(t), k.with(t)
		ns := k.namespace("external")
		k.service(ns, "out", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"})
		web := k.service(ns, "web", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}})
		webName := "web." + ns + ".svc.cluster.local."
		k.service(ns, "in", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: webName})

		out := "out." + ns + ".svc.cluster.local."
		for _, proto := range []string{"udp", "tcp"} {
			m := c.wait(proto, out, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) > 0 })
			// The target is outside the domain: not resolved further.
			if got, want := answers(m), []string{out + " 5 CNAME example.com."}; !slices.Equal(got, want) || m.Rcode != dns.RcodeSuccess {
				t.Errorf("%s A %s = %s %q, want NOERROR %q", proto, out, dns.RcodeToString[m.Rcode], got, want)
			}
		}
		in := "in." + ns + ".svc.cluster.local."
		m := c.wait("udp", in, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) > 0 })
		if got, want := answers(m), []string{in + " 5 CNAME " + webName, webName + " 5 A " + web.Spec.ClusterIP}; !slices.Equal(got, want) {
			t.Errorf("A %s = %q, want %q", in, got, want)
		}
	})

	t.Run("Pod", func(t *testing.T) {
		c := c.with(t)
		name := "198-18-3-4.any.pod.cluster.local."
		if got, want := answers(c.query("udp", name, dns.TypeA)), []string{name + " 5 A 198.18.3.4"}; !slices.Equal(got, want) {
			t.Errorf("A %s = %q, want %q", name, got, want)
		}
		c.expectNoData(c.query("udp", name, dns.TypeAAAA), name)
		v6 := "fd00--1.any.pod.cluster.local."
		if got, want := answers(c.query("tcp", v6, dns.TypeAAAA)), []string{v6 + " 5 AAAA fd00::1"}; !slices.Equal(got, want) {
			t.Errorf("AAAA %s = %q, want %q", v6, got, want)
		}
		c.expectNXDomain(c.query("udp", "not-an-ip.any.pod.cluster.local.", dns.TypeA))
	})

	t.Run("Missing", func(t *testing.T) {
		c := c.with(t)
		for _, proto := range []string{"udp", "tcp"} {
			c.expectNXDomain(c.query(proto, "nothing.default.svc.cluster.local.", dns.TypeA))
			c.expectNXDomain(c.query(proto, "nothing.no-such-namespace.svc.cluster.local.", dns.TypeAAAA))
			c.expectNXDomain(c.query(proto, "no-such-namespace.svc.cluster.local.", dns.TypeA))
			c.expectNXDomain(c.query(proto, "foo.cluster.local.", dns.TypeA))
		}
		m := c.query("udp", "cluster.local.", dns.TypeSOA)
		if len(m.Answer) != 1 || m.Answer[0].(*dns.SOA).Minttl != TTL {
			t.Errorf("SOA cluster.local. = %v, want one SOA with minimum TTL %d", m.Answer, TTL)
		}
	})

	t.Run("OutsideRefused", func(t *testing.T) {
		c := c.with(t)
		for _, proto := range []string{"udp", "tcp"} {
			for _, name := range []string{"example.com.", "kubernetes.default.svc.cluster.local.example.com.", "local.", "."} {
				m := c.query(proto, name, dns.TypeA)
				if m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
					t.Errorf("%s A %s: %s with %d answers, want REFUSED", proto, name, dns.RcodeToString[m.Rcode], len(m.Answer))
				}
			}
		}
		// Rate-limited: the first refusal is logged, the next ones within
		// refusalInterval are counted, not logged.
		if n := strings.Count(logs.String(), "refused a query for a name outside the cluster domain"); n < 1 || n >= 8 {
			t.Errorf("%d refusal log lines for 8 refused queries, want at least one and fewer than 8:\n%s", n, logs)
		}
		if !strings.Contains(logs.String(), "name=example.com.") {
			t.Errorf("the refusal log does not name the first refused name:\n%s", logs)
		}
	})

	t.Run("AddressInUse", func(t *testing.T) {
		_, err := Start(ctx, Config{REST: api.Config, Listen: s.Addr()})
		if err == nil || !strings.Contains(err.Error(), "listen on "+s.Addr().String()) {
			t.Errorf("a second server on %s: error %v, want one naming the address", s.Addr(), err)
		}
	})

	t.Run("Truncation", func(t *testing.T) {
		c, k := c.with(t), k.with(t)
		ns := k.namespace("big")
		k.service(ns, "many", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone})
		var eps []discoveryv1.Endpoint
		for i := range 100 {
			eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("198.18.201.%d", i+1)}})
		}
		k.slice(ns, "many", "many-1", eps, 80)
		name := "many." + ns + ".svc.cluster.local."
		m := c.wait("tcp", name, dns.TypeA, func(m *dns.Msg) bool { return len(m.Answer) == 100 })
		if m.Truncated {
			t.Errorf("TCP answer with 100 records has TC set")
		}
		// Plain UDP (no EDNS0): 512 bytes, TC set.
		m = c.query("udp", name, dns.TypeA)
		if !m.Truncated || len(m.Answer) >= 100 {
			t.Errorf("UDP answer without EDNS0: TC=%v with %d records, want TC and fewer than 100", m.Truncated, len(m.Answer))
		}
		// EDNS0 with 4096 bytes: all of them fit.
		req := new(dns.Msg)
		req.SetQuestion(name, dns.TypeA)
		req.SetEdns0(4096, false)
		m = c.exchange("udp", req)
		if m.Truncated || len(m.Answer) != 100 || m.IsEdns0() == nil {
			t.Errorf("UDP answer with EDNS0 4096: TC=%v with %d records, EDNS0 %v; want all 100, no TC, an OPT record", m.Truncated, len(m.Answer), m.IsEdns0())
		}
	})
}

// tclient queries the server under test.
type tclient struct {
	t    *testing.T
	addr string
}

func (c *tclient) with(t *testing.T) *tclient { return &tclient{t: t, addr: c.addr} }

func (c *tclient) exchange(proto string, req *dns.Msg) *dns.Msg {
	c.t.Helper()
	cl := &dns.Client{Net: proto, Timeout: 10 * time.Second}
	m, _, err := cl.Exchange(req, c.addr)
	if err != nil {
		c.t.Fatalf("%s query %s %s to %s: %v", proto, req.Question[0].Name, dns.TypeToString[req.Question[0].Qtype], c.addr, err)
	}
	return m
}

func (c *tclient) query(proto, name string, qtype uint16) *dns.Msg {
	c.t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	return c.exchange(proto, req)
}

// wait queries until done accepts the answer: the server sees API changes
// when the watch delivers them.
func (c *tclient) wait(proto, name string, qtype uint16, done func(*dns.Msg) bool) *dns.Msg {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m := c.query(proto, name, qtype)
		if done(m) {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s %s %s: still %s after a minute", proto, name, dns.TypeToString[qtype], m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *tclient) expectNoData(m *dns.Msg, name string) {
	c.t.Helper()
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		c.t.Errorf("%s %s: %s with %q, want NOERROR without answers", name, dns.TypeToString[m.Question[0].Qtype], dns.RcodeToString[m.Rcode], answers(m))
	}
	expectSOA(c.t, m)
}

func (c *tclient) expectNXDomain(m *dns.Msg) {
	c.t.Helper()
	if m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
		c.t.Errorf("%s %s: %s with %q, want NXDOMAIN", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], dns.RcodeToString[m.Rcode], answers(m))
	}
	expectSOA(c.t, m)
}

func expectSOA(t *testing.T, m *dns.Msg) {
	t.Helper()
	if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || m.Ns[0].(*dns.SOA).Minttl != TTL {
		t.Errorf("negative answer for %s: authority %v, want the SOA with minimum TTL %d", m.Question[0].Name, m.Ns, TTL)
	}
}

// answers returns the answer section as "<name> <ttl> <type> <data>".
func answers(m *dns.Msg) []string { return records(m.Answer, 0) }

// records returns rrs (only those of type rrtype unless 0) as
// "<name> <ttl> <type> <data>".
func records(rrs []dns.RR, rrtype uint16) []string {
	var out []string
	for _, rr := range rrs {
		if rrtype != 0 && rr.Header().Rrtype != rrtype {
			continue
		}
		f := strings.Fields(rr.String()) // name ttl class type data...
		out = append(out, strings.Join(append([]string{f[0], f[1]}, f[3:]...), " "))
	}
	return out
}

// kube creates the objects a test needs in the API server.
type kube struct {
	t   *testing.T
	ctx context.Context
	kc  kubernetes.Interface
}

func (k *kube) with(t *testing.T) *kube { return &kube{t: t, ctx: k.ctx, kc: k.kc} }

func (k *kube) namespace(name string) string {
	k.t.Helper()
	_, err := k.kc.CoreV1().Namespaces().Create(k.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return name
}

func (k *kube) service(ns, name string, spec corev1.ServiceSpec) *corev1.Service {
	k.t.Helper()
	svc, err := k.kc.CoreV1().Services(ns).Create(k.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return svc
}

func (k *kube) deleteService(ns, name string) {
	k.t.Helper()
	if err := k.kc.CoreV1().Services(ns).Delete(k.ctx, name, metav1.DeleteOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// slice creates an EndpointSlice of Service ns/svc with one port of the
// Service's first port name.
func (k *kube) slice(ns, svc, name string, eps []discoveryv1.Endpoint, port int32) {
	k.t.Helper()
	s, err := k.kc.CoreV1().Services(ns).Get(k.ctx, svc, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	var ports []discoveryv1.EndpointPort
	if len(s.Spec.Ports) > 0 {
		ports = []discoveryv1.EndpointPort{{Name: ptr.To(s.Spec.Ports[0].Name), Port: ptr.To(port), Protocol: ptr.To(s.Spec.Ports[0].Protocol)}}
	}
	_, err = k.kc.DiscoveryV1().EndpointSlices(ns).Create(k.ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       ports,
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
}

func (k *kube) updateSlice(ns, name string, change func(*discoveryv1.EndpointSlice)) {
	k.t.Helper()
	es, err := k.kc.DiscoveryV1().EndpointSlices(ns).Get(k.ctx, name, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	change(es)
	if _, err := k.kc.DiscoveryV1().EndpointSlices(ns).Update(k.ctx, es, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// syncBuffer is a log destination the server writes from its goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
