package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeway/edgeway/dataplane/config"
)

// fakeDNS answers A queries for every name with the current address, or
// SERVFAIL while failing is set.
type fakeDNS struct {
	mu      sync.Mutex
	addr    [4]byte
	failing bool
	conn    net.PacketConn
}

func startFakeDNS(t testing.TB) *fakeDNS {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: pc}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			d.mu.Lock()
			addr, failing := d.addr, d.failing
			d.mu.Unlock()
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
			if failing {
				rh.RCode = dnsmessage.RCodeServerFailure
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if !failing && q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: addr})
			}
			out, err := b.Finish()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

func (d *fakeDNS) set(addr [4]byte, failing bool) {
	d.mu.Lock()
	d.addr, d.failing = addr, failing
	d.mu.Unlock()
}

func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

// TestStrictDNS: a STRICT_DNS cluster follows its host name's addresses at
// dns_refresh_rate and keeps the last good ones while DNS fails.
func TestStrictDNS(t *testing.T) {
	b1 := startBackendOn(t, "127.0.0.1:0", "one")
	port := b1.Listener.Addr().(*net.TCPAddr).Port
	startBackendOn(t, "127.0.0.2:"+strconv.Itoa(port), "two")
	dns := startFakeDNS(t)
	dns.set([4]byte{127, 0, 0, 1}, false)

	p := newProxy(t)
	p.resolver = dns.resolver()
	res := newResources()
	res.Clusters["svc"] = &clusterv3.Cluster{Name: "svc", ConnectTimeout: durationpb.New(time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		DnsRefreshRate:       durationpb.New(30 * time.Millisecond),
		LoadAssignment:       &endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: lbEndpoints([]string{"backend.example.test:" + strconv.Itoa(port)}, nil)}}
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "svc")))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "main"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	cl := client()

	if r := do(t, cl, "GET", base+"/", "x", nil); r.echo.Backend != "one" {
		t.Fatalf("first resolution: reached %q (status %d)", r.echo.Backend, r.status)
	}
	dns.set([4]byte{127, 0, 0, 2}, false)
	waitFor(t, func() bool { return do(t, cl, "GET", base+"/", "x", nil).echo.Backend == "two" })
	dns.set([4]byte{}, true)
	time.Sleep(150 * time.Millisecond) // several failed refreshes
	for range 5 {
		if r := do(t, cl, "GET", base+"/", "x", nil); r.echo.Backend != "two" {
			t.Fatalf("DNS failure dropped the last good address: %d %q", r.status, r.echo.Backend)
		}
	}
	_ = config.TypeCluster
}

func startBackendOn(t testing.TB, addr, name string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(startBackend(t, name).Config.Handler)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoundRobinWeights: endpoints are used in proportion to
// load_balancing_weight, interleaved (smooth weighted round-robin).
func TestRoundRobinWeights(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	p := newProxy(t)
	res := newResources()
	res.Clusters["c"] = edsCluster("c")
	res.Endpoints["c"] = &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: lbEndpoints([]string{backendAddr(a), backendAddr(b)}, []uint32{1, 3})}
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "c")))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "main"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	counts := map[string]int{}
	cl := client()
	for range 40 {
		counts[do(t, cl, "GET", base+"/", "x", nil).echo.Backend]++
	}
	if counts["a"] != 10 || counts["b"] != 30 {
		t.Errorf("weights 1:3 over 40 requests gave %v", counts)
	}
	s := newEndpointSet([]resolvedEndpoint{{"x", 1}, {"y", 3}})
	if got := len(s.schedule); got != 4 {
		t.Errorf("schedule length %d", got)
	}
	if big := newEndpointSet([]resolvedEndpoint{{"x", 1 << 30}, {"y", 1}}); len(big.schedule) > 2*maxSchedule || len(big.schedule) == 0 {
		t.Errorf("huge weights: schedule length %d", len(big.schedule))
	}
	_ = http.StatusOK
}
