package xds

import (
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
)

// TestListenersStableAcrossRouteEndpointCertChanges: route, endpoint and
// certificate edits must leave every Listener byte-identical (they travel in
// RDS, EDS and SDS), so no listener is ever drained for them.
func TestListenersStableAcrossRouteEndpointCertChanges(t *testing.T) {
	base := loadIR(t, "testdata/https-and-passthrough.in.yaml")
	edited := loadIR(t, "testdata/https-and-passthrough.in.yaml")

	// A route edit: new match, new backend split, header filter.
	vh := edited.RouteTables[0].VirtualHosts[0]
	vh.Routes = append([]*ir.Route{{
		Name:  "default/app/rule/1/match/0",
		Match: ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathExact, Value: "/v2"}},
		Forward: &ir.Forward{Backends: []ir.WeightedCluster{
			{Cluster: "service/default/app/80", Weight: 1},
			{Cluster: "service/other/secure/8443", Weight: 1},
		}},
		RequestHeaders: &ir.HeaderModifier{Set: []ir.Header{{Name: "x-v", Value: "2"}}},
	}}, vh.Routes...)
	// An endpoint edit and a renewed certificate.
	edited.Clusters[0].Endpoints = append(edited.Clusters[0].Endpoints, ir.Endpoint{Address: "fd00::2", Port: 8080})
	edited.Secrets[0].CertChain = "-----BEGIN CERTIFICATE-----\nbmV3\n-----END CERTIFICATE-----\n"

	before, err := Translate(base)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Translate(edited)
	if err != nil {
		t.Fatal(err)
	}

	for _, typ := range []resource.Type{resource.RouteType, resource.EndpointType, resource.SecretType} {
		if hashResources(t, before[typ]) == hashResources(t, after[typ]) {
			t.Errorf("%s did not change; the edit is not exercised", typeName(typ))
		}
	}
	lb, la := before[resource.ListenerType], after[resource.ListenerType]
	if len(lb) != len(la) {
		t.Fatalf("listener count changed: %d -> %d", len(lb), len(la))
	}
	for i := range lb {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(lb[i])
		if err != nil {
			t.Fatal(err)
		}
		a, err := proto.MarshalOptions{Deterministic: true}.Marshal(la[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("listener %q changed on a route/endpoint/certificate edit", resourceName(lb[i]))
		}
	}
	if hashResources(t, before[resource.ClusterType]) != hashResources(t, after[resource.ClusterType]) {
		t.Error("clusters changed on an endpoint edit; endpoints belong in EDS")
	}
}

func hashResources(t *testing.T, rs []types.Resource) string {
	t.Helper()
	v, err := contentVersion(rs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
