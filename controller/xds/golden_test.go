package xds

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/edgeway/edgeway/controller/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current translator")

// loadIR reads an IR in its YAML form, rejecting unknown fields so that a
// typo in a test case cannot silently drop a field.
func loadIR(t *testing.T, path string) *ir.IR {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := &ir.IR{}
	if err := yaml.UnmarshalStrict(data, x); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x
}

// TestGolden translates every testdata/NAME.in.yaml and compares the result
// with testdata/NAME.out.yaml (go test ./controller/xds -update rewrites them).
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.in.yaml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			res, err := Translate(loadIR(t, in))
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			got, err := MarshalYAML(res)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./controller/xds -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation; run go test ./controller/xds -update and review the diff.\ngot:\n%s", out, got)
			}
		})
	}
}
