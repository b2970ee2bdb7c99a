package xds

import (
	"slices"
	"strings"
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
	v, err := contentVersion("", rs, nil) // the type only names a resource in an error
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// versionsOf translates x and returns each type's content version.
func versionsOf(t *testing.T, x *ir.IR) map[resource.Type]string {
	t.Helper()
	res, err := Translate(x)
	if err != nil {
		t.Fatal(err)
	}
	out := map[resource.Type]string{}
	for _, typ := range Types {
		out[typ] = hashResources(t, res[typ])
	}
	return out
}

// expectChanged compares two translations type by type: exactly the types
// in changed differ.
func expectChanged(t *testing.T, what string, before, after map[resource.Type]string, changed ...resource.Type) {
	t.Helper()
	for _, typ := range Types {
		want := slices.Contains(changed, typ)
		if got := before[typ] != after[typ]; got != want {
			t.Errorf("%s: %s changed = %v, want %v", what, typeName(typ), got, want)
		}
	}
}

// TestACMEHTTP01ChallengeChangesRDSOnly: an HTTP-01 token route coming and
// going is a route edit: only RDS changes, the Listener stays
// byte-identical (no drain), whether the token is added, removed or
// replaced by the next one.
func TestACMEHTTP01ChallengeChangesRDSOnly(t *testing.T) {
	with := loadIR(t, "testdata/acme-http01.in.yaml")
	without := loadIR(t, "testdata/acme-http01.in.yaml")
	vh := without.RouteTables[0].VirtualHosts[0]
	if !strings.HasPrefix(vh.Routes[0].Match.Path.Value, ir.ACMEChallengePathPrefix) {
		t.Fatalf("the golden's first route is not the challenge: %+v", vh.Routes[0].Match.Path)
	}
	vh.Routes = vh.Routes[1:]
	next := loadIR(t, "testdata/acme-http01.in.yaml")
	r := next.RouteTables[0].VirtualHosts[0].Routes[0]
	r.Name = "acme-http01/default/app-tls/next-token"
	r.Match.Path.Value = ir.ACMEChallengePathPrefix + "next-token"
	r.DirectResponse.Body = "next-token.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

	vWithout, vWith, vNext := versionsOf(t, without), versionsOf(t, with), versionsOf(t, next)
	expectChanged(t, "token added", vWithout, vWith, resource.RouteType)
	expectChanged(t, "token replaced", vWith, vNext, resource.RouteType)
	expectChanged(t, "token removed", vNext, vWithout, resource.RouteType)
}

// TestACMETLSALPNChallengeChanges: a TLS-ALPN-01 challenge chain coming or
// going changes the Listener (a filter chain appears: unavoidable; the data
// plane swaps it in without rebinding, dataplane/proxy/acme_test.go) and
// SDS (the validation certificate), nothing else. A new token for a
// challenge already served changes SDS only.
func TestACMETLSALPNChallengeChanges(t *testing.T) {
	with := loadIR(t, "testdata/acme-tls-alpn.in.yaml")
	without := loadIR(t, "testdata/acme-tls-alpn.in.yaml")
	for _, l := range without.Listeners {
		l.TLS = slices.DeleteFunc(l.TLS, func(c *ir.TLSChain) bool { return c.ACMEChallenge != nil })
	}
	without.Listeners = slices.DeleteFunc(without.Listeners, func(l *ir.Listener) bool { return len(l.TLS) == 0 })
	without.Secrets = slices.DeleteFunc(without.Secrets, func(s *ir.Secret) bool { return strings.HasPrefix(s.Name, "acme-tls-alpn/") })
	rotated := loadIR(t, "testdata/acme-tls-alpn.in.yaml")
	rotated.Secrets[0].CertChain = "-----BEGIN CERTIFICATE-----\nbmV4dC10b2tlbg==\n-----END CERTIFICATE-----\n"

	vWithout, vWith, vRotated := versionsOf(t, without), versionsOf(t, with), versionsOf(t, rotated)
	expectChanged(t, "challenges added", vWithout, vWith, resource.ListenerType, resource.SecretType)
	expectChanged(t, "challenges removed", vWith, vWithout, resource.ListenerType, resource.SecretType)
	expectChanged(t, "new token", vWith, vRotated, resource.SecretType)
}
