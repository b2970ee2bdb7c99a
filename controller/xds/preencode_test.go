package xds

import (
	"log/slog"
	"path/filepath"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

// TestPreEncodedIsTheMarshal: every route configuration the server
// publishes (with its virtual hosts as wire forms, preencode.go) encodes
// to exactly the bytes of the translation's own message, for every golden
// input and the benchmark's IR, on the first publication and after a
// change of one route (unchanged virtual hosts' wire forms reused).
func TestPreEncodedIsTheMarshal(t *testing.T) {
	files, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]func() *ir.IR{"bench-100": func() *ir.IR { return benchIR(100) }}
	for _, f := range files {
		inputs[filepath.Base(f)] = func() *ir.IR { return loadIR(t, f) }
	}
	preEncodedSeen := 0
	for name, load := range inputs {
		if load().Validate() != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s := NewServer(slog.New(slog.DiscardHandler))
			check := func(x *ir.IR) {
				t.Helper()
				if err := s.Update(testNode, x); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{}
				res, err := Translate(x)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res[resource.RouteType] {
					want[resourceName(r)] = string(mustMarshal(t, r))
				}
				snap, err := s.cache.GetSnapshot(testNode)
				if err != nil {
					t.Fatal(err)
				}
				got := snap.GetResources(resource.RouteType)
				if len(got) != len(want) {
					t.Fatalf("%d route configurations published, translation has %d", len(got), len(want))
				}
				for n, r := range got {
					if string(mustMarshal(t, r)) != want[n] {
						t.Errorf("route configuration %q: published bytes differ from the translation's marshal", n)
					}
					if rc := r.(*routev3.RouteConfiguration); len(rc.VirtualHosts) == 0 && len(rc.ProtoReflect().GetUnknown()) > 0 {
						preEncodedSeen++
					}
				}
			}
			check(load())
			changed := load()
			for _, rt := range changed.RouteTables {
				if len(rt.VirtualHosts) > 0 && len(rt.VirtualHosts[0].Routes) > 0 {
					rt.VirtualHosts[0].Routes[0].Name += "-renamed"
					break
				}
			}
			check(changed)
		})
	}
	if preEncodedSeen == 0 {
		t.Fatal("no published route configuration was pre-encoded")
	}
}

// TestPreEncodedKeepsOtherFields: fields after virtual_hosts (none of
// which translation sets today) still come out in a marshal's order.
func TestPreEncodedKeepsOtherFields(t *testing.T) {
	rc := &routev3.RouteConfiguration{
		Name:                     "rc",
		InternalOnlyHeaders:      []string{"x-internal"},
		ValidateClusters:         wrapperspb.Bool(false),
		IgnorePortInHostMatching: true,
	}
	var entries []translatedVHost
	for _, d := range []string{"a.example", "b.example"} {
		v := &routev3.VirtualHost{Name: d, Domains: []string{d}}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
		entries = append(entries, translatedVHost{xds: v, wire: mustMarshal(t, v)})
	}
	want := mustMarshal(t, rc)
	p, err := preEncoded(rc, entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustMarshal(t, p); string(got) != string(want) {
		t.Errorf("pre-encoded bytes\n%x\nwant the marshal's\n%x", got, want)
	}
	if got := mustMarshal(t, rc); string(got) != string(want) {
		t.Error("preEncoded changed its input")
	}
}
