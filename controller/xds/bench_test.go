package xds

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/edgeway/edgeway/controller/ir"
)

// BenchmarkTranslate measures Translate (IR to validated, encodable Envoy
// resources) for the IR of n HTTPRoutes, the sizes of bench-scale: what
// the controller runs on every change after the Gateway API translation.
// The IR (benchIR) is the shape controller/gatewayapi produces for one
// Gateway with an HTTP and an HTTPS listener. bench/go/README.md describes
// each benchmark.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 5000} {
		x := benchIR(n)
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			report := cpuPerOp(b)
			for b.Loop() {
				res, err := Translate(x)
				if err != nil {
					b.Fatal(err)
				}
				if len(res[resource.RouteType]) != 2 {
					b.Fatalf("%d route configurations, want 2", len(res[resource.RouteType]))
				}
			}
			report()
		})
	}
}

// benchRoutesPerHost: a hostname per ten HTTPRoutes, and a Service (three
// endpoints) per ten routes.
const benchRoutesPerHost = 10

// benchIR is the IR of n HTTPRoutes on one Gateway: the same route table
// on an HTTP listener and behind an HTTPS chain for *.example.com, one
// virtual host per ten routes, rules cycling through exact and prefix
// paths, a regex, header/method and query conditions, a header filter, a
// prefix rewrite and a 90/10 split.
func benchIR(n int) *ir.IR {
	services := max(1, n/benchRoutesPerHost)
	x := &ir.IR{}
	for c := range services {
		cl := &ir.Cluster{Name: fmt.Sprintf("service/bench/svc-%d/8080", c), Discovery: ir.DiscoveryEDS}
		for e := range 3 {
			cl.Endpoints = append(cl.Endpoints, ir.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", c/250, c%250, e+1), Port: 9090})
		}
		x.Clusters = append(x.Clusters, cl)
	}
	// The IR is sorted by name (ir.Validate requires a deterministic order).
	slices.SortFunc(x.Clusters, func(a, b *ir.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	for _, table := range []string{"bench/bench/0.0.0.0:443/https", "bench/bench/0.0.0.0:80"} {
		rt := &ir.RouteTable{Name: table}
		for h := 0; h*benchRoutesPerHost < n; h++ {
			domain := "app" + strconv.Itoa(h) + ".example.com"
			vh := &ir.VirtualHost{Name: domain, Domains: []string{domain}}
			for i := h * benchRoutesPerHost; i < min(n, (h+1)*benchRoutesPerHost); i++ {
				vh.Routes = append(vh.Routes, benchRoute(i, services))
			}
			rt.VirtualHosts = append(rt.VirtualHosts, vh)
		}
		slices.SortFunc(rt.VirtualHosts, func(a, b *ir.VirtualHost) int { return cmp.Compare(a.Name, b.Name) })
		x.RouteTables = append(x.RouteTables, rt)
	}
	x.Listeners = []*ir.Listener{
		{Name: "bench/bench/0.0.0.0:443", Address: "0.0.0.0", Port: 443, Gateways: []string{"bench/bench"},
			TLS: []*ir.TLSChain{{Name: "https/*.example.com", ServerNames: []string{"*.example.com"},
				Terminate: &ir.TLSTerminate{Certificates: []string{"bench/bench-tls"}, HTTP: &ir.HTTPChain{RouteTable: "bench/bench/0.0.0.0:443/https"}}}}},
		{Name: "bench/bench/0.0.0.0:80", Address: "0.0.0.0", Port: 80, Gateways: []string{"bench/bench"},
			HTTP: &ir.HTTPChain{RouteTable: "bench/bench/0.0.0.0:80"}},
	}
	x.Secrets = []*ir.Secret{{Name: "bench/bench-tls",
		CertChain:  "-----BEGIN CERTIFICATE-----\nYmVuY2g=\n-----END CERTIFICATE-----\n",
		PrivateKey: "-----BEGIN EC PRIVATE KEY-----\nYmVuY2gta2V5\n-----END EC PRIVATE KEY-----\n"}}
	return x
}

// benchRoute is the IR route of HTTPRoute i (one rule, one match).
func benchRoute(i, services int) *ir.Route {
	s := strconv.Itoa(i)
	backend := []ir.WeightedCluster{{Cluster: fmt.Sprintf("service/bench/svc-%d/8080", i%services), Weight: 1}}
	r := &ir.Route{Name: "bench/route-" + s + "/rule/0/match/0", Forward: &ir.Forward{Backends: backend}}
	prefix := func(v string) *ir.PathMatch { return &ir.PathMatch{Type: ir.PathPrefix, Value: v} }
	switch i % benchRoutesPerHost {
	case 0, 1:
		r.Match.Path = &ir.PathMatch{Type: ir.PathExact, Value: "/exact" + s}
	case 2:
		r.Match.Path = prefix("/api" + s + "/v1")
	case 3:
		r.Match.Path = prefix("/api" + s + "/v2")
		r.RequestHeaders = &ir.HeaderModifier{Set: []ir.Header{{Name: "x-route", Value: "r" + s}}, Remove: []string{"x-debug"}}
	case 4:
		r.Match.Path = prefix("/old" + s)
		newPrefix := "/new" + s
		r.Forward.Rewrite = &ir.URLRewrite{ReplacePrefixMatch: &newPrefix}
	case 5:
		r.Match.Path = prefix("/api" + s)
	case 6:
		r.Match.Path = &ir.PathMatch{Type: ir.PathRegex, Value: "/re" + s + "/[0-9]+"}
	case 7:
		r.Match.Path = prefix("/h" + s)
		r.Match.Headers = []ir.StringMatch{{Name: "x-version", Type: ir.MatchExact, Value: "2"}}
		r.Match.Method = "GET"
	case 8:
		r.Match.Path = prefix("/q" + s)
		r.Match.QueryParams = []ir.StringMatch{{Name: "debug", Type: ir.MatchExact, Value: "1"}}
	default:
		r.Match.Path = prefix("/")
		r.Forward.Backends = []ir.WeightedCluster{backend[0], {Cluster: fmt.Sprintf("service/bench/svc-%d/8080", (i+1)%services), Weight: 10}}
		r.Forward.Backends[0].Weight = 90
	}
	return r
}

// cpuPerOp starts measuring the process's CPU time (user and system, every
// goroutine and the garbage collector); the returned func reports it per
// operation as cpu-ns/op. Unlike ns/op it does not grow when other
// processes compete for the cores, as they do on a shared machine.
func cpuPerOp(b *testing.B) (report func()) {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishRouteChange is a change of one route at n virtual hosts
// as the controller publishes it: Update, then the marshal go-control-plane
// makes of each route configuration for the response to the data plane
// (cache.MarshalResource, once per snapshot).
//
//	go test -run '^$' -bench PublishRouteChange ./controller/xds
func BenchmarkPublishRouteChange(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			s := NewServer(slog.New(slog.DiscardHandler))
			// n virtual hosts of one route each (bench-scale's shape); the
			// second IR shares all but one virtual host with the first, as
			// the controller's memo leaves them.
			var xs [2]*ir.IR
			xs[0] = benchIR(n * benchRoutesPerHost)
			// Two Services, as in bench-scale: every route to one of them.
			xs[0].Clusters = xs[0].Clusters[:2]
			for _, rt := range xs[0].RouteTables {
				for i, vh := range rt.VirtualHosts {
					vh.Routes = vh.Routes[:1]
					if f := vh.Routes[0].Forward; f != nil {
						f.Backends = []ir.WeightedCluster{{Cluster: xs[0].Clusters[i%2].Name, Weight: 1}}
					}
				}
			}
			x1 := *xs[0]
			x1.RouteTables = slices.Clone(x1.RouteTables)
			rt := *x1.RouteTables[0]
			rt.VirtualHosts = slices.Clone(rt.VirtualHosts)
			vh := *rt.VirtualHosts[n/2]
			r := *vh.Routes[0]
			r.Name += "-changed"
			vh.Routes = []*ir.Route{&r}
			rt.VirtualHosts[n/2] = &vh
			x1.RouteTables[0] = &rt
			xs[1] = &x1
			publish := func(x *ir.IR) {
				if err := s.Update(testNode, x); err != nil {
					b.Fatal(err)
				}
				snap, err := s.cache.GetSnapshot(testNode)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range snap.GetResources(resource.RouteType) {
					if _, err := cache.MarshalResource(r); err != nil {
						b.Fatal(err)
					}
				}
			}
			publish(xs[1])
			b.ReportAllocs()
			report := cpuPerOp(b)
			i := 0
			for b.Loop() {
				publish(xs[i%2])
				i++
			}
			report()
		})
	}
}
