package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTranslateCLI runs the offline translation on the bundled quickstart, as
// a user would, in every output form, twice, and requires identical output.
func TestTranslateCLI(t *testing.T) {
	for _, form := range []struct{ o, want string }{
		{"status", "kind: Gateway"},
		{"ir", "routeTables:"},
		{"xds", "envoy.filters.network.http_connection_manager"},
	} {
		run := func() string {
			out, err := exec.Command(edgewayBin, "translate", "-f", "../../examples/quickstart", "-o", form.o).CombinedOutput()
			if err != nil {
				t.Fatalf("translate -o %s: %v\n%s", form.o, err, out)
			}
			return string(out)
		}
		first, second := run(), run()
		if first != second {
			t.Errorf("translate -o %s is not deterministic", form.o)
		}
		if !strings.Contains(first, form.want) {
			t.Errorf("translate -o %s lacks %q:\n%s", form.o, form.want, first)
		}
		if strings.Contains(first, "PRIVATE KEY") {
			t.Errorf("translate -o %s leaks a private key", form.o)
		}
	}
	out, err := exec.Command(edgewayBin, "translate", "-f", "../../examples/quickstart", "-o", "status").Output()
	if err != nil {
		t.Fatal(err)
	}
	if bad := failingConditions(t, string(out)); len(bad) > 0 {
		t.Errorf("the quickstart must translate without a failing condition: %v", bad)
	}
	out, err = exec.Command(edgewayBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "edgeway ") {
		t.Errorf("version: %v %s", err, out)
	}
}
