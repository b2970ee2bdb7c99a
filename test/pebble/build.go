package pebble

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the Pebble release the harness builds; test/pebble/tools/go.mod
// pins the same one (TestToolsModulePinsVersion checks the two agree).
const Version = "v2.10.1"

// The commands the harness runs, built from the Go module proxy.
const (
	pebblePkg       = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	challTestSrvPkg = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)

// binaries are the executables Start needs, by path.
type binaries struct {
	pebble, challTestSrv string
}

var (
	buildOnce sync.Once
	builtBins binaries
	buildErr  error
)

// build returns the Pebble binaries, building them at most once per process
// and, through a file lock in the cache directory, once across the test
// binaries `go test` runs in parallel. A cold build (empty GOCACHE, module
// cache warm) takes ~25 s on 2 shared cores; a warm one only a stat.
func build() (binaries, error) {
	buildOnce.Do(func() { builtBins, buildErr = buildLocked() })
	return builtBins, buildErr
}

func buildLocked() (binaries, error) {
	tools, err := ToolsDir()
	if err != nil {
		return binaries{}, err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return buildIn(tools, filepath.Join(base, "edgeway", "pebble"))
}

// buildIn builds the commands of the tools module in directory tools into
// a subdirectory of cache named after Version and cacheKey.
func buildIn(tools, cache string) (binaries, error) {
	key, err := cacheKey(tools)
	if err != nil {
		return binaries{}, err
	}
	dir := filepath.Join(cache, Version+"-"+key)
	bins := binaries{
		pebble:       filepath.Join(dir, "pebble"),
		challTestSrv: filepath.Join(dir, "pebble-challtestsrv"),
	}
	if bins.present() {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return binaries{}, fmt.Errorf("pebble: creating the binary cache %s: %w", dir, err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return binaries{}, err
	}
	defer unlock()
	// Another test binary may have built them while this one waited.
	if bins.present() {
		return bins, nil
	}
	// Build into a fresh directory and rename: a reader that skips the lock
	// (bins.present above) never sees a half-written executable.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return binaries{}, fmt.Errorf("pebble: %w", err)
	}
	defer os.RemoveAll(tmp)
	gobin, err := goCommand()
	if err != nil {
		return binaries{}, err
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "pebble: building Pebble %s into %s (a cold build takes ~25 s on 2 cores)\n", Version, dir)
	cmd := exec.Command(gobin, "build", "-mod=readonly", "-o", tmp+string(filepath.Separator), pebblePkg, challTestSrvPkg)
	cmd.Dir = tools
	// GOWORK=off: a go.work above the checkout must not pull the tools module
	// into a workspace. CGO_ENABLED=0: a CI machine may have no C compiler,
	// and Pebble needs none.
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return binaries{}, fmt.Errorf("pebble: building Pebble %s failed (%v); the command was `cd %s && go build -mod=readonly -o %s %s %s`; it needs the Go module proxy (or a warm module cache) and test/pebble/tools/go.sum to be complete (run `go mod tidy` in test/pebble/tools after changing its go.mod):\n%s",
			Version, err, tools, tmp, pebblePkg, challTestSrvPkg, out.Bytes())
	}
	for _, name := range []string{"pebble", "pebble-challtestsrv"} {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return binaries{}, fmt.Errorf("pebble: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "pebble: built Pebble %s in %s\n", Version, time.Since(start).Round(100*time.Millisecond))
	if !bins.present() {
		return binaries{}, fmt.Errorf("pebble: go build succeeded but %s or %s is missing", bins.pebble, bins.challTestSrv)
	}
	return bins, nil
}

func (b binaries) present() bool {
	for _, p := range []string{b.pebble, b.challTestSrv} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// cacheKey names one build: the tools module's go.mod and go.sum (a version
// bump rebuilds), the Go toolchain and the platform.
func cacheKey(tools string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			return "", fmt.Errorf("pebble: reading the tools module: %w", err)
		}
		h.Write(b)
	}
	fmt.Fprintf(h, "%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// goCommand finds the go command: the one on PATH, else the one of the
// toolchain that built this test binary.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("pebble: no go command on PATH (needed to build Pebble from the module proxy)")
}

// lockFile takes an exclusive flock on path, waiting for any holder.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pebble: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pebble: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// rootModule is the go.mod line that identifies the repository root.
const rootModule = "module github.com/edgeway/edgeway"

// ToolsDir returns the directory of the tools module (test/pebble/tools)
// that pins Pebble: in the checkout this source file was compiled from, or
// else in the edgeway repository at or above the working directory.
func ToolsDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "tools")
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && slices.Contains(strings.Split(string(b), "\n"), rootModule) {
			return filepath.Join(d, "test", "pebble", "tools"), nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("pebble: cannot find test/pebble/tools: no edgeway repository (go.mod of github.com/edgeway/edgeway) at or above the working directory")
		}
		d = parent
	}
}
