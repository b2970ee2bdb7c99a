package kubebin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The script and Names must agree, or Dir would rebuild forever (a name the
// script never builds) or hand out a directory without a binary.
func TestScriptBuildsNames(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, script))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Names {
		if !strings.Contains(string(b), "\n  \""+n+"=") {
			t.Errorf("%s does not build %q", script, n)
		}
	}
	if _, err := Path("kube-scheduler"); err == nil || !strings.Contains(err.Error(), "unknown binary") {
		t.Errorf("Path(kube-scheduler) = %v, want an unknown binary error", err)
	}
}

// Each binary runs and reports the pinned version: the version ldflags took
// (a server claiming v0.0.0-master fails clients' version checks).
func TestBinariesReportPinnedVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("may build the control plane (minutes)")
	}
	for name, want := range map[string][]string{
		"kube-apiserver":          {"--version", "Kubernetes v1.37.1"},
		"kube-controller-manager": {"--version", "Kubernetes v1.37.1"},
		"kubectl":                 {"version --client", "Client Version: v1.37.1"},
		"etcd":                    {"--version", "etcd Version: 3.7.3"},
		"helm":                    {"version --short", "v4.3.1"},
	} {
		p, err := Path(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(p, strings.Fields(want[0])...).CombinedOutput()
		if err != nil {
			t.Errorf("%s %s: %v\n%s", name, want[0], err, out)
			continue
		}
		if !strings.Contains(string(out), want[1]) {
			t.Errorf("%s %s = %q, want it to contain %q", name, want[0], out, want[1])
		}
	}
}
