package xdsclient_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// signalling passes every Apply on to the proxy and reports each route
// configuration it applied.
type signalling struct {
	*proxy.Proxy
	routes chan error
}

func (s signalling) Apply(typeURL string, c *config.Resources) error {
	err := s.Proxy.Apply(typeURL, c)
	if typeURL == config.TypeRoute {
		s.routes <- err
	}
	return err
}

// BenchmarkApplyRouteChangeOverADS is BenchmarkApplyRouteChange as it
// really runs: go-control-plane's ADS server on loopback sends the route
// configuration (n virtual hosts, one changed per op) over gRPC to the xDS
// client, which hands it to the proxy. Its cpu-ns/op is of both ends: the
// server's marshalling and sending of the response are in it too.
//
//	go test -run '^$' -bench ApplyRouteChangeOverADS/routes=5000 -count 6 ./dataplane/xdsclient
func BenchmarkApplyRouteChangeOverADS(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			port := uint32(lis.Addr().(*net.TCPAddr).Port)
			lis.Close()
			var snaps [2]*cachev3.Snapshot
			for i := range snaps {
				w := routeWorld{endpoints: map[string]string{"ca": "127.0.0.1:9"}}
				w.hosts[0], w.hosts[1] = map[string]string{}, map[string]string{"other.example": "ca"}
				for h := range n {
					w.hosts[0][fmt.Sprintf("route-%05d.bench.example", h)] = "ca"
				}
				w.hosts[0][fmt.Sprintf("route-%05d.bench.example", n/2)] = []string{"ca", "cb"}[i]
				w.endpoints["cb"] = "127.0.0.1:10"
				snaps[i] = benchSnapshot(b, w.resources(b, [2]uint32{port, port + 1}), i)
			}
			srv := startRawServer(b)
			p := proxy.New(quiet)
			b.Cleanup(func() { p.Close() })
			h := signalling{Proxy: p, routes: make(chan error, 1)}
			c := xdsclient.New(srv.addr, node, h, quiet, xdsclient.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			b.Cleanup(func() { cancel(); <-done })
			set := func(i int) {
				if err := srv.cache.SetSnapshot(context.Background(), node, snaps[i%2]); err != nil {
					b.Fatal(err)
				}
				if err := <-h.routes; err != nil {
					b.Fatal(err)
				}
			}
			set(0)
			b.ReportAllocs()
			start := processCPU()
			i := 0
			for b.Loop() {
				i++
				set(i)
			}
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSnapshot is res with the versions of bench-scale's changes: only
// the route configurations' differs between the two snapshots.
func benchSnapshot(b *testing.B, res map[resource.Type][]cachetypes.Resource, i int) *cachev3.Snapshot {
	b.Helper()
	snap := &cachev3.Snapshot{}
	for _, typ := range []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType} {
		version := "1"
		if typ == resource.RouteType {
			version = strconv.Itoa(i + 1)
		}
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(version, res[typ])
	}
	return snap
}
