package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
)

// BenchmarkControllerPipeline runs, in process, what the controller runs
// after every HTTPRoute write, on the shape bench-scale creates (one
// Gateway with one HTTP listener, n routes of one hostname each to one
// Service): Gateway API translation, the split per Gateway and the xDS
// update (IR validation, Envoy translation, snapshot). Each step is its
// own sub-benchmark (and the data plane's side of an RDS update,
// step=dataplane-rds; the publisher's IR comparison, step=compare-same;
// the whole pass as the controller runs it, step=pass),
// so that a CPU profile of one (-cpuprofile) says where the propagation
// time of the bench goes. The Kubernetes source's listing of its cache
// into a Snapshot is only approximated: step=list-copies makes the deep
// copies the cache hands out, of objects without managedFields.
//
//	go test -run '^$' -bench 'ControllerPipeline/step=translate/routes=1000' -benchtime 3x -cpuprofile /tmp/cpu.pprof ./bench/scale
func BenchmarkControllerPipeline(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		snap := pipelineSnapshot(b, n)
		out, _ := gatewayapi.Translate(snap)
		node := namespace + "/" + gatewayName
		part := ir.SplitByGateway(out)[node]
		// A virtual host per route, and the listener's own ("*").
		if part == nil || len(part.RouteTables) != 1 || len(part.RouteTables[0].VirtualHosts) != n+1 {
			b.Fatalf("generated snapshot does not translate to %d virtual hosts on node %s", n+1, node)
		}
		// What the Kubernetes source's cache listing spends on the deep
		// copies the cache hands out, for the objects of this snapshot (a
		// cluster's objects also carry managedFields, unless the cache
		// strips them, so this is a lower bound).
		b.Run("step=list-copies/routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				deepCopies(snap)
			}
		})
		b.Run("step=translate/routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gatewayapi.Translate(snap)
			}
		})
		b.Run("step=split/routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ir.SplitByGateway(out)
			}
		})
		b.Run("step=validate/routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := part.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The publisher compares each Gateway's IR with the one it
		// published last: another translation of the same snapshot is
		// the unchanged Gateway's case, and one more route the changed one.
		again := ir.SplitByGateway(must(gatewayapi.Translate(snap)))[node]
		b.Run("step=compare-same/routes="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ir.Equal(part, again) {
					b.Fatal("two translations of one snapshot differ")
				}
			}
		})
		benchDataplaneRDS(b, n, part)
		benchPass(b, n, snap)
		// Each Update publishes a change of one route: the node's IR
		// alternates between part and a copy with one route renamed.
		changed := withOneRouteRenamed(part)
		b.Run("step=xds-update/routes="+strconv.Itoa(n), func(b *testing.B) {
			srv := xds.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
			b.ReportAllocs()
			next := part
			for b.Loop() {
				if err := srv.Update(node, next); err != nil {
					b.Fatal(err)
				}
				if next == part {
					next = changed
				} else {
					next = part
				}
			}
		})
	}
}

// pipelineSnapshots are the parsed inputs by route count: parsing 5000
// routes takes longer than most steps' whole runs, and -count runs the
// benchmark function again. Steps never write them.
var pipelineSnapshots = map[int]*snapshot.Snapshot{}

func pipelineSnapshot(b *testing.B, n int) *snapshot.Snapshot {
	if s := pipelineSnapshots[n]; s != nil {
		return s
	}
	snap, err := snapshot.Parse(fmt.Sprintf("bench-scale-%d.yaml", n), pipelineYAML(n))
	if err != nil {
		b.Fatalf("generated snapshot does not load: %v", err)
	}
	snap.IsolateGateways = true
	pipelineSnapshots[n] = snap
	return snap
}

// deepCopies copies the objects of snap as a cache listing would.
func deepCopies(snap *snapshot.Snapshot) {
	for _, o := range snap.GatewayClasses {
		o.DeepCopy()
	}
	for _, o := range snap.Gateways {
		o.DeepCopy()
	}
	for _, o := range snap.HTTPRoutes {
		o.DeepCopy()
	}
	for _, o := range snap.Services {
		o.DeepCopy()
	}
	for _, o := range snap.EndpointSlices {
		o.DeepCopy()
	}
}

// withOneRouteRenamed is x with the first route of its middle virtual
// host renamed, sharing everything else with x (which is not written).
func withOneRouteRenamed(x *ir.IR) *ir.IR {
	out := *x
	rt := *x.RouteTables[0]
	out.RouteTables = append([]*ir.RouteTable{&rt}, x.RouteTables[1:]...)
	rt.VirtualHosts = slices.Clone(rt.VirtualHosts)
	i := len(rt.VirtualHosts) / 2
	vh := *rt.VirtualHosts[i]
	rt.VirtualHosts[i] = &vh
	vh.Routes = slices.Clone(vh.Routes)
	r := *vh.Routes[0]
	r.Name += "-renamed"
	vh.Routes[0] = &r
	return &out
}

// must drops Translate's statuses.
func must(x *ir.IR, _ any) *ir.IR { return x }

// pipelineYAML is the bench's namespace as YAML: the GatewayClass, the
// Gateway, echo-a's Service with one ready endpoint, and n routes.
func pipelineYAML(n int) []byte {
	var w strings.Builder
	fmt.Fprintf(&w, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edgeway}
spec: {controllerName: %[1]s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: %[2]s, namespace: %[3]s}
spec:
  gatewayClassName: edgeway
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: %[4]s, namespace: %[3]s}
spec:
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[4]s-1
  namespace: %[3]s
  labels: {kubernetes.io/service-name: %[4]s}
addressType: IPv4
ports: [{name: http, port: 3000}]
endpoints: [{addresses: ["10.1.0.1"], conditions: {ready: true}}]
`, snapshot.DefaultControllerName, gatewayName, namespace, echoA)
	for i := range n {
		name := routeName(prefixScale, i)
		fmt.Fprintf(&w, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s, namespace: %s}
spec:
  parentRefs: [{name: %s}]
  hostnames: [%q]
  rules: [{backendRefs: [{name: %s, port: 80}]}]
`, name, namespace, gatewayName, hostOf(name), echoA)
	}
	return []byte(w.String())
}
