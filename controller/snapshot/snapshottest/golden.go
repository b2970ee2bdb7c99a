// Package snapshottest gives tests the translator's golden inputs as
// Snapshots, for the tests that hold a reader of a Snapshot to writing
// nothing into it: the Kubernetes source hands an object unchanged since
// the previous build to every later Snapshot as the same object
// (controller/source/kube copies.go), so a write by any reader would leak
// into the next Snapshots.
package snapshottest

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// goldenDir is controller/gatewayapi/testdata, found from this file's own
// place so that a test in any package names the inputs the same way.
func goldenDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("snapshottest: cannot find its own source file, and from it the golden inputs")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "gatewayapi", "testdata")
}

// EachGoldenInput runs fn as a subtest, named for the file, for every golden
// input of the translator whose name matches pattern (for example
// "*.in.yaml", "acme*.in.yaml"). It fails when nothing matches: a test of
// no input would pass and prove nothing.
func EachGoldenInput(t *testing.T, pattern string, fn func(t *testing.T, path string)) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(goldenDir(t), pattern))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden input matches %q in controller/gatewayapi/testdata: %v", pattern, err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) { fn(t, in) })
	}
}

// Parse parses a golden input with Gateways isolated, as the Kubernetes
// source runs, then applies prepare, if any, to it (the golden test's own
// loader turns isolation off there for the inputs not named "isolated-").
func Parse(t *testing.T, path string, prepare func(*snapshot.Snapshot)) *snapshot.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Parse(path, data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	snap.IsolateGateways = true
	if prepare != nil {
		prepare(snap)
	}
	return snap
}

// Copies parses path n times (n >= 2) with prepare: equal Snapshots that
// share no memory, so that after a reader ran on the first, a comparison
// with the second says whether it wrote. It fails when the parses differ,
// as the comparison would then mean nothing.
func Copies(t *testing.T, path string, n int, prepare func(*snapshot.Snapshot)) []*snapshot.Snapshot {
	t.Helper()
	out := make([]*snapshot.Snapshot, n)
	for i := range out {
		out[i] = Parse(t, path, prepare)
		if i > 0 && !reflect.DeepEqual(out[0], out[i]) {
			t.Fatal("two parses of one file differ; comparing a Snapshot with its copy would mean nothing")
		}
	}
	return out
}
