package xdsclient

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/proxy"
)

// BenchmarkApplyRouteChange is the data plane's whole work for one route
// change at n routes (one virtual host each, all in one
// RouteConfiguration, as bench-scale makes them), from the bytes the ADS
// stream received: the DiscoveryResponse decoded as gRPC's codec decodes
// it, the client's handling (route decoder, candidate), the real proxy's
// Apply (compile, host index, swap; its listener bound on loopback) and the
// ACK marshalled as gRPC would send it. Each op alternates between two
// responses that differ in one virtual host's route timeout. cpu-ns/op is
// the process's CPU per op, garbage collection included.
//
//	go test -run '^$' -bench ApplyRouteChange/routes=5000 -count 6 ./dataplane/xdsclient
func BenchmarkApplyRouteChange(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			p := proxy.New(slog.New(slog.DiscardHandler))
			b.Cleanup(func() { p.Close() })
			c := New("127.0.0.1:0", "bench", p, slog.New(slog.DiscardHandler))
			base := benchIR(b, n, freePort(b))
			changed := withTimeout(base, n/2, 7000)
			var wire [2][][]byte // per response: its type's responses in subscription order
			for i, x := range []*ir.IR{base, changed} {
				wire[i] = responses(b, x, strconv.Itoa(i))
			}
			// The first full configuration (every type), then the route
			// configuration without and with the change, in turn.
			for _, w := range wire[0] {
				handleWire(b, c, w)
			}
			route := len(wire[0]) - 1 // RDS is the last type the benchmark sends
			b.ReportAllocs()
			start := processCPU()
			i := 0
			for b.Loop() {
				i++
				handleWire(b, c, wire[i%2][route])
			}
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
			// What stays in memory after the changes (the benchmark's
			// own inputs included): the configuration served and what
			// the client and the compiler keep for the next change.
			b.StopTimer()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc), "live-heap-B")
		})
	}
}

// handleWire decodes one response as gRPC would, handles it and marshals
// the answer; the answer must be an ACK.
func handleWire(b *testing.B, c *Client, w []byte) {
	resp := &discoveryv3.DiscoveryResponse{}
	if err := proto.Unmarshal(w, resp); err != nil {
		b.Fatal(err)
	}
	req := c.handle(resp)
	if req.GetErrorDetail() != nil {
		b.Fatalf("NACK of %s: %s", resp.GetTypeUrl(), req.GetErrorDetail().GetMessage())
	}
	if _, err := proto.Marshal(req); err != nil {
		b.Fatal(err)
	}
}

// responses are x's resources as the DiscoveryResponses of each type in
// the order CDS, EDS, LDS, RDS, marshalled.
func responses(b *testing.B, x *ir.IR, version string) [][]byte {
	res, err := xds.Translate(x)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for _, typ := range []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType} {
		resp := &discoveryv3.DiscoveryResponse{TypeUrl: typ, VersionInfo: version, Nonce: version}
		for _, r := range res[typ] {
			a, err := anypb.New(r)
			if err != nil {
				b.Fatal(err)
			}
			resp.Resources = append(resp.Resources, a)
		}
		w, err := proto.Marshal(resp)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// benchIR is bench-scale's shape: one HTTP listener on loopback, n
// virtual hosts of one hostname and one route each, all to one cluster.
func benchIR(b *testing.B, n int, port uint32) *ir.IR {
	rt := &ir.RouteTable{Name: "rt"}
	for i := range n {
		rt.VirtualHosts = append(rt.VirtualHosts, &ir.VirtualHost{
			Name:    fmt.Sprintf("route-%05d", i),
			Domains: []string{fmt.Sprintf("route-%05d.bench.example", i)},
			Routes: []*ir.Route{{
				Name:    fmt.Sprintf("bench/route-%05d/rule/0/match/0", i),
				Match:   ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathPrefix, Value: "/"}},
				Forward: &ir.Forward{Backends: []ir.WeightedCluster{{Cluster: "service/bench/echo/80", Weight: 1}}},
			}},
		})
	}
	x := &ir.IR{
		Listeners:   []*ir.Listener{{Name: "127.0.0.1:" + strconv.Itoa(int(port)), Address: "127.0.0.1", Port: port, HTTP: &ir.HTTPChain{RouteTable: "rt"}}},
		RouteTables: []*ir.RouteTable{rt},
		Clusters: []*ir.Cluster{{Name: "service/bench/echo/80", Discovery: ir.DiscoveryEDS,
			Endpoints: []ir.Endpoint{{Address: "127.0.0.1", Port: 9}}}},
	}
	if err := x.Validate(); err != nil {
		b.Fatal(err)
	}
	return x
}

// withTimeout is x with virtual host i's route given a timeout, sharing
// the rest with x.
func withTimeout(x *ir.IR, i int, millis uint64) *ir.IR {
	out := *x
	rt := *x.RouteTables[0]
	out.RouteTables = []*ir.RouteTable{&rt}
	rt.VirtualHosts = append([]*ir.VirtualHost(nil), rt.VirtualHosts...)
	vh := *rt.VirtualHosts[i]
	rt.VirtualHosts[i] = &vh
	r := *vh.Routes[0]
	f := *r.Forward
	f.Timeouts = &ir.Timeouts{RequestMillis: &millis}
	r.Forward = &f
	vh.Routes = []*ir.Route{&r}
	return &out
}

// freePort is a loopback port nothing listens on now, for the proxy's
// listener.
func freePort(b *testing.B) uint32 {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var _ config.Handler = (*proxy.Proxy)(nil)
