package gatewayapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"

	"github.com/edgeway/edgeway/controller/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current translation")

// TestGolden translates every testdata/NAME.in.yaml and compares statuses and
// IR with testdata/NAME.out.yaml. Regenerate with: go test ./controller/gatewayapi -update
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			snap := loadGoldenInput(t, in)
			out, st := Translate(snap)
			validateCase(t, name, out)
			got := renderCase(t, name, out, st)
			// Pure function: a second run yields the same bytes.
			out2, st2 := Translate(snap)
			if again := renderCase(t, name, out2, st2); !bytes.Equal(got, again) {
				t.Errorf("translation is not deterministic")
			}
			golden := filepath.Join("testdata", name+".out.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation; run go test ./controller/gatewayapi -update and review the diff\n%s", golden, diff(string(want), string(got)))
			}
		})
	}
}

// render marshals statuses (through their JSON tags, as the API server would
// show them) and the IR (through its yaml tags) into one YAML document.
// Private keys are redacted.
func render(t testing.TB, out *ir.IR, st *Statuses) []byte {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(yaml.MapSlice{{Key: "statuses", Value: generic}, {Key: "ir", Value: redact(out)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diff shows the first differing lines: enough to see what changed.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}
