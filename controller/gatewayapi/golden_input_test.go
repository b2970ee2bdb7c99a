package gatewayapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// loadGoldenInput parses testdata/NAME.in.yaml into a Snapshot the way the
// golden test translates it: an "isolated-" name turns on per-Gateway
// isolation, as the Kubernetes source runs. Every test that feeds golden
// inputs to the translation starts here, so they all see the same input.
func loadGoldenInput(t *testing.T, in string) *snapshot.Snapshot {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Parse(in, data)
	if err != nil {
		t.Fatalf("parse %s: %v", in, err)
	}
	snap.IsolateGateways = isolated(strings.TrimSuffix(filepath.Base(in), ".in.yaml"))
	return snap
}
