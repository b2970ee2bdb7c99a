package xds

import (
	"log/slog"
	"maps"
	"path/filepath"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/edgeway/edgeway/controller/ir"
)

// TestServerReusesUnchangedVirtualHosts: after a change of one route,
// Update publishes exactly what a server without a previous publication
// publishes (same versions, equal route configurations), and the virtual
// hosts that did not change are the very messages published before.
func TestServerReusesUnchangedVirtualHosts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, f := range files {
		first := loadIR(t, f)
		if len(first.RouteTables) == 0 || len(first.RouteTables[0].VirtualHosts) < 2 || first.Validate() != nil {
			continue
		}
		tested++
		t.Run(filepath.Base(f), func(t *testing.T) {
			s := NewServer(slog.New(slog.DiscardHandler))
			if err := s.Update(testNode, first); err != nil {
				t.Fatal(err)
			}
			before := publishedVirtualHosts(s)
			changed := loadIR(t, f) // equal to first, but its own objects
			vh := changed.RouteTables[0].VirtualHosts[0]
			vh.Routes[0].Name += "-renamed"
			if err := s.Update(testNode, changed); err != nil {
				t.Fatal(err)
			}
			fresh := NewServer(slog.New(slog.DiscardHandler))
			if err := fresh.Update(testNode, changed); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Versions(testNode), fresh.Versions(testNode); !maps.Equal(got, want) {
				t.Fatalf("versions after the change %v, a fresh server publishes %v", got, want)
			}
			got, want := routeConfigurations(t, s), routeConfigurations(t, fresh)
			for name, rc := range want {
				if !proto.Equal(got[name], rc) {
					t.Fatalf("route configuration %q differs from a fresh server's", name)
				}
			}
			rt := changed.RouteTables[0].Name
			if got[rt] == nil {
				return // a route table no listener references
			}
			for i, v := range publishedVirtualHosts(s)[rt] {
				reused := v == before[rt][i]
				if v.Name == vh.Name && reused {
					t.Errorf("virtual host %q changed but its old message was published", v.Name)
				}
				if v.Name != vh.Name && !reused {
					t.Errorf("virtual host %q did not change but was translated again", v.Name)
				}
			}
		})
	}
	if tested == 0 {
		t.Fatal("no golden input has a route table with two virtual hosts")
	}
}

// TestServerReportsInvalidChangedVirtualHostAsWithoutReuse: a changed
// virtual host failing Envoy's validation is refused with the message a
// server without a previous publication gives.
func TestServerReportsInvalidChangedVirtualHostAsWithoutReuse(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	if err := s.Update(testNode, loadIR(t, "testdata/http-routes.in.yaml")); err != nil {
		t.Fatal(err)
	}
	before := s.Versions(testNode)
	x := loadIR(t, "testdata/http-routes.in.yaml")
	// A header value with a line break passes the IR's checks (they look
	// at names) and fails Envoy's. The last virtual host: its index in the
	// message is not its index among the changed ones.
	vhs := x.RouteTables[0].VirtualHosts
	if len(vhs) < 2 {
		t.Fatal("http-routes.in.yaml has fewer than two virtual hosts; the test needs a reused one")
	}
	vhs[len(vhs)-1].Routes[0].RequestHeaders = &ir.HeaderModifier{
		Set: []ir.Header{{Name: "x-a", Value: "a\nb"}},
	}
	err := s.Update(testNode, x)
	if err == nil {
		t.Fatal("a header value with a line break was published")
	}
	wantErr := NewServer(slog.New(slog.DiscardHandler)).Update(testNode, x)
	if wantErr == nil || err.Error() != wantErr.Error() {
		t.Fatalf("error %q, a fresh server's %v", err, wantErr)
	}
	if after := s.Versions(testNode); !maps.Equal(after, before) {
		t.Errorf("versions changed from %v to %v after a refused update", before, after)
	}
}

// routeConfigurations are the route configurations s serves testNode, as
// a data plane decodes them (the published ones carry their virtual hosts
// as wire forms: preencode.go).
func routeConfigurations(t *testing.T, s *Server) map[string]*routev3.RouteConfiguration {
	t.Helper()
	out := map[string]*routev3.RouteConfiguration{}
	for name, b := range publishedWire(t, s, resource.RouteType) {
		rc := &routev3.RouteConfiguration{}
		if err := proto.Unmarshal([]byte(b), rc); err != nil {
			t.Fatalf("route configuration %q: %v", name, err)
		}
		out[name] = rc
	}
	return out
}

// publishedVirtualHosts are the virtual host messages s published for
// testNode by route table, as Update keeps them for reuse.
func publishedVirtualHosts(s *Server) map[string][]*routev3.VirtualHost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]*routev3.VirtualHost{}
	for rt, entries := range s.vhosts[testNode] {
		for _, e := range entries {
			out[rt] = append(out[rt], e.xds)
		}
	}
	return out
}
