package gatewayapi

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// FuzzTranslate feeds arbitrary YAML through snapshot.Parse and Translate:
// translation must never panic, and whatever it emits must be valid IR.
// Seed corpus: the golden inputs.
func FuzzTranslate(f *testing.F) {
	ins, _ := filepath.Glob("testdata/*.in.yaml")
	for _, in := range ins {
		if data, err := os.ReadFile(in); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := snapshot.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, st := Translate(snap)
		if out == nil || st == nil {
			t.Fatal("Translate returned nil")
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("invalid IR: %v", err)
		}
	})
}

// TestTranslateNil: nil snapshots and nil entries are tolerated.
func TestTranslateNil(t *testing.T) {
	out, st := Translate(nil)
	if out == nil || st == nil {
		t.Fatal("Translate(nil) returned nil")
	}
	snap := &snapshot.Snapshot{
		GatewayClasses: nil,
		Gateways:       nil,
	}
	snap.HTTPRoutes = append(snap.HTTPRoutes, nil)
	snap.Services = append(snap.Services, nil)
	snap.Gateways = append(snap.Gateways, nil)
	snap.GatewayClasses = append(snap.GatewayClasses, nil)
	snap.ServiceEntries = append(snap.ServiceEntries, nil)
	snap.EndpointSlices = append(snap.EndpointSlices, nil)
	snap.TLSRoutes = append(snap.TLSRoutes, nil)
	snap.TCPRoutes = append(snap.TCPRoutes, nil)
	snap.ReferenceGrants = append(snap.ReferenceGrants, nil)
	snap.Secrets = append(snap.Secrets, nil)
	snap.Namespaces = append(snap.Namespaces, nil)
	if out, _ := Translate(snap); out.Validate() != nil {
		t.Fatal(out.Validate())
	}
}
