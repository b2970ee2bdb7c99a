// Package kubebin finds, and on first use builds, the real control-plane
// binaries the integration tests run: kube-apiserver, kube-controller-manager,
// kubectl, etcd and helm, built from the Go module proxy by hack/kube-bins.sh
// at the versions pinned in conformance/tools/go.mod.
//
// The directory it returns holds them under the names envtest expects, so it
// can be used as KUBEBUILDER_ASSETS.
package kubebin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Names are the binaries hack/kube-bins.sh builds; keep the two lists equal
// (TestScriptBuildsNames checks).
var Names = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm"}

// script is the builder, relative to the repository root.
const script = "hack/kube-bins.sh"

var (
	once   sync.Once
	dir    string
	dirErr error
)

// Dir returns the directory holding every binary in Names. When one is
// missing it runs hack/kube-bins.sh, at most once per process and, through a
// file lock, once across the test binaries `go test ./...` runs in parallel;
// a cold build takes 12-25 minutes on 2 cores, a warm one nothing.
func Dir() (string, error) {
	once.Do(func() { dir, dirErr = ensure() })
	return dir, dirErr
}

// Path returns the path of one binary of Names, building as Dir does.
func Path(name string) (string, error) {
	if !slices.Contains(Names, name) {
		return "", fmt.Errorf("kubebin: unknown binary %q (have %s)", name, strings.Join(Names, ", "))
	}
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

func ensure() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := runScript(root, nil, "--print-dir")
	if err != nil {
		return "", err
	}
	d := strings.TrimSpace(string(out))
	if missing(d) == nil {
		return d, nil
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("kubebin: %w", err)
	}
	unlock, err := lock(filepath.Join(d, ".kubebin.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another test binary may have built them while this one waited.
	if m := missing(d); m != nil {
		fmt.Fprintf(os.Stderr, "kubebin: %s missing in %s: running %s (a cold build takes 12-25 minutes on 2 cores)\n",
			strings.Join(m, ", "), d, script)
		if _, err := runScript(root, os.Stderr, ""); err != nil {
			return "", err
		}
		if m := missing(d); m != nil {
			return "", fmt.Errorf("kubebin: %s ran but %s still missing in %s", script, strings.Join(m, ", "), d)
		}
	}
	return d, nil
}

// missing lists the binaries of Names that are not executable files in d.
func missing(d string) []string {
	var m []string
	for _, n := range Names {
		fi, err := os.Stat(filepath.Join(d, n))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			m = append(m, n)
		}
	}
	return m
}

// runScript runs the builder with arg (none if empty). With out set, its
// output streams there (a build is long: show progress); otherwise stdout is
// returned and stderr quoted in the error.
func runScript(root string, out *os.File, arg string) ([]byte, error) {
	cmd := exec.Command("bash", filepath.Join(root, script))
	if arg != "" {
		cmd.Args = append(cmd.Args, arg)
	}
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kubebin: %s %s: %w\n%s", script, arg, err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// lock takes an exclusive flock on path, waiting for any holder.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kubebin: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("kubebin: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}
