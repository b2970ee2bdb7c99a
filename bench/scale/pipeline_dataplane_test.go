package main

import (
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/xds"
	dpconfig "github.com/edgeway/edgeway/dataplane/config"
)

// benchDataplaneRDS measures the data plane's side of one route change at
// n routes: the RouteConfiguration (all n virtual hosts, one of them
// changed: a route timeout, alternating between two values) decoded from
// its wire form, then compiled into the candidate configuration. Two
// paths: path=compiler is what the xDS client and proxy.Apply do (a
// dpconfig.RouteDecoder that decodes only the changed virtual hosts, and a
// dpconfig.Compiler that compiles only those, keyed by their wire form);
// path=validate+compile is what they did before either (proto.Unmarshal,
// dpconfig.Validate of the routes, then a full dpconfig.Compile).
func benchDataplaneRDS(b *testing.B, n int, part *ir.IR) {
	res, err := xds.Translate(part)
	if err != nil {
		b.Fatal(err)
	}
	base := &dpconfig.Resources{Listeners: map[string]*listenerv3.Listener{}, Routes: map[string]*routev3.RouteConfiguration{},
		Clusters: map[string]*clusterv3.Cluster{}, Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
	for _, r := range res[resource.ListenerType] {
		l := r.(*listenerv3.Listener)
		base.Listeners[l.GetName()] = l
	}
	for _, r := range res[resource.ClusterType] {
		c := r.(*clusterv3.Cluster)
		base.Clusters[c.GetName()] = c
	}
	for _, r := range res[resource.EndpointType] {
		cla := r.(*endpointv3.ClusterLoadAssignment)
		base.Endpoints[cla.GetClusterName()] = cla
	}
	if len(res[resource.RouteType]) != 1 {
		b.Fatalf("%d route configurations, want 1", len(res[resource.RouteType]))
	}
	rc := res[resource.RouteType][0].(*routev3.RouteConfiguration)
	var wire [2][]byte
	for i := range wire {
		changed := proto.Clone(rc).(*routev3.RouteConfiguration)
		changed.VirtualHosts[len(changed.VirtualHosts)/2].Routes[0].GetRoute().Timeout = durationpb.New(time.Duration(i+1) * time.Second)
		if wire[i], err = proto.Marshal(changed); err != nil {
			b.Fatal(err)
		}
	}
	candidate := func(i int) *dpconfig.Resources {
		next := *base
		m := &routev3.RouteConfiguration{}
		if err := proto.Unmarshal(wire[i%2], m); err != nil {
			b.Fatal(err)
		}
		next.Routes = map[string]*routev3.RouteConfiguration{m.GetName(): m}
		return &next
	}
	// What the xDS client does (xdsclient's decodeRoutes): the decoder
	// reuses the unchanged virtual hosts' messages, and their wire forms
	// key the compiler's cache.
	var dec dpconfig.RouteDecoder
	decoded := func(i int) *dpconfig.Resources {
		next := *base
		m, vhWire, err := dec.Decode(wire[i%2])
		dec.Done()
		if err != nil {
			b.Fatal(err)
		}
		next.Routes = map[string]*routev3.RouteConfiguration{m.GetName(): m}
		next.RouteWire = map[*routev3.RouteConfiguration][]string{m: vhWire}
		return &next
	}
	b.Run("step=dataplane-rds/path=compiler/routes="+strconv.Itoa(n), func(b *testing.B) {
		var c dpconfig.Compiler
		if _, err := c.Compile(decoded(0)); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		report := cpuPerOp(b)
		for b.Loop() {
			i++
			if _, err := c.Compile(decoded(i)); err != nil {
				b.Fatal(err)
			}
		}
		report()
	})
	b.Run("step=dataplane-rds/path=validate+compile/routes="+strconv.Itoa(n), func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			r := candidate(i)
			if err := dpconfig.Validate(dpconfig.TypeRoute, r); err != nil {
				b.Fatal(err)
			}
			if _, err := dpconfig.Compile(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
