package xds

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
)

// TestServerChangeSequenceMatchesFreshServer: after each update of a
// sequence (a route renamed, virtual hosts removed at the end and at the
// start, one added in the middle, the order reversed, the first state
// again, then the same IR objects with one virtual host replaced), the
// server publishes byte for byte what a server without a previous
// publication publishes for the same IR: every resource's deterministic
// wire form and every type's version. The edits move virtual hosts out of
// their previous positions, so the reuse's lookup by name runs, not only
// its guess of the next position.
func TestServerChangeSequenceMatchesFreshServer(t *testing.T) {
	files, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, f := range files {
		if x := loadIR(t, f); len(x.RouteTables) == 0 || len(x.RouteTables[0].VirtualHosts) < 2 || x.Validate() != nil {
			continue
		}
		tested++
		t.Run(filepath.Base(f), func(t *testing.T) {
			s := NewServer(slog.New(slog.DiscardHandler))
			var last *ir.IR
			for i, step := range vhostEditSequence(func() *ir.IR { return loadIR(t, f) }, func() *ir.IR { return last }) {
				x := step.ir()
				if err := s.Update(testNode, x); err != nil {
					t.Fatalf("step %d (%s): %v", i, step.name, err)
				}
				fresh := NewServer(slog.New(slog.DiscardHandler))
				if err := fresh.Update(testNode, x); err != nil {
					t.Fatalf("step %d (%s), fresh server: %v", i, step.name, err)
				}
				if got, want := s.Versions(testNode), fresh.Versions(testNode); !maps.Equal(got, want) {
					t.Fatalf("step %d (%s): versions %v, a fresh server publishes %v", i, step.name, got, want)
				}
				for _, typ := range Types {
					got, want := publishedWire(t, s, typ), publishedWire(t, fresh, typ)
					if !maps.Equal(got, want) {
						t.Fatalf("step %d (%s): %s differ from a fresh server's", i, step.name, typeName(typ))
					}
				}
				if rt := x.RouteTables[0].Name; publishedWire(t, s, resource.RouteType)[rt] == "" {
					t.Fatalf("step %d (%s): route table %q is not published; the step tests nothing", i, step.name, rt)
				}
				last = x
			}
		})
	}
	if tested == 0 {
		t.Fatal("no golden input has a route table with two virtual hosts")
	}
}

type vhostEdit struct {
	name string
	ir   func() *ir.IR
}

// vhostEditSequence is the sequence of TestServerChangeSequenceMatchesFreshServer
// on the golden input load returns (a new copy per call); last is the IR
// of the previous step.
func vhostEditSequence(load, last func() *ir.IR) []vhostEdit {
	vhostsOf := func(x *ir.IR) *[]*ir.VirtualHost { return &x.RouteTables[0].VirtualHosts }
	return []vhostEdit{
		{"as loaded", load},
		{"a route renamed", func() *ir.IR {
			x := load()
			(*vhostsOf(x))[0].Routes[0].Name += "-renamed"
			return x
		}},
		{"the last virtual host removed", func() *ir.IR {
			x := load()
			vhs := vhostsOf(x)
			*vhs = (*vhs)[:len(*vhs)-1]
			return x
		}},
		{"the first virtual host removed", func() *ir.IR {
			x := load()
			vhs := vhostsOf(x)
			*vhs = (*vhs)[1:]
			return x
		}},
		{"a virtual host added in the middle", func() *ir.IR {
			x := load()
			vhs := vhostsOf(x)
			added := *(*vhs)[0]
			added.Name = "added"
			added.Domains = []string{"added.example.com"}
			*vhs = slices.Insert(*vhs, len(*vhs)/2, &added)
			return x
		}},
		{"the order reversed", func() *ir.IR {
			x := load()
			slices.Reverse(*vhostsOf(x))
			return x
		}},
		{"as loaded again", load},
		{"the same objects, one virtual host replaced", func() *ir.IR {
			x := last()
			vhs := vhostsOf(x)
			changed := *(*vhs)[1]
			changed.Domains = append(slices.Clone(changed.Domains), "changed.example.com")
			(*vhs)[1] = &changed
			return x
		}},
	}
}

// publishedWire is every resource of typ that s serves testNode, by name,
// in its deterministic wire form.
func publishedWire(t *testing.T, s *Server, typ resource.Type) map[string]string {
	t.Helper()
	snap, err := s.cache.GetSnapshot(testNode)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, r := range snap.GetResources(typ) {
		out[name] = string(mustMarshal(t, r))
	}
	return out
}

func mustMarshal(t *testing.T, r types.Resource) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", resourceName(r), err))
	}
	return b
}
