package gatewayapi

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/snapshot/snapshottest"
)

// loadGoldenInput parses testdata/NAME.in.yaml into a Snapshot the way the
// golden test translates it: an "isolated-" name turns on per-Gateway
// isolation, as the Kubernetes source runs. Every test that feeds golden
// inputs to the translation starts here, so they all see the same input.
func loadGoldenInput(t *testing.T, in string) *snapshot.Snapshot {
	t.Helper()
	return snapshottest.Parse(t, in, func(snap *snapshot.Snapshot) {
		snap.IsolateGateways = isolated(strings.TrimSuffix(filepath.Base(in), ".in.yaml"))
	})
}
