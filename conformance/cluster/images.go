package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/edgeway/edgeway/conformance/kubebin"
	"github.com/edgeway/edgeway/conformance/node"
)

// The images the cluster's node can run by default, each a binary built
// from this module with `go build`:
//
//	registry.k8s.io/gateway-api/echo-basic -> sigs.k8s.io/gateway-api/conformance/echo-basic
//	registry.k8s.io/coredns/coredns        -> ./conformance/images/coredns
//	ghcr.io/edgeway/edgeway                -> ./cmd/edgeway (the container's args: controller ..., dataplane ...)
//	ghcr.io/edgeway/edgeway-dataplane      -> ./cmd/edgeway-dataplane (the data planes the controller provisions)
//	busybox, docker.io/library/busybox     -> the container's command run with the host's programs (node.Shell)
//
// edgeway's two are built as make build builds them, with the runtime
// overlay of hack/netpollfifo (not with NETPOLL_FIFO=0).
//
// agnhost and the other e2e test images are not mapped: agnhost is dozens
// of programs behind one binary, and nothing here uses it.
const (
	EchoBasicImage = "registry.k8s.io/gateway-api/echo-basic"
	CoreDNSImage   = "registry.k8s.io/coredns/coredns"
	EdgewayImage   = "ghcr.io/edgeway/edgeway"
	// EdgewayDataplaneImage is the chart's default data plane image.
	EdgewayDataplaneImage = "ghcr.io/edgeway/edgeway-dataplane"
)

// imageBuild is one binary go builds, and the image keys it plays.
type imageBuild struct {
	binary string // go names it after the package's last element
	pkg    string
	images []string
	// asMakeBuild: built with `make build`'s flags, hack/netpollfifo's
	// runtime overlay (the binaries edgeway ships), not only the test
	// stand-ins' plain go build.
	asMakeBuild bool
}

var imageBuilds = []imageBuild{
	{"echo-basic", "sigs.k8s.io/gateway-api/conformance/echo-basic", []string{EchoBasicImage}, false},
	{"coredns", "./conformance/images/coredns", []string{CoreDNSImage}, false},
	{"edgeway", "./cmd/edgeway", []string{EdgewayImage}, true},
	{"edgeway-dataplane", "./cmd/edgeway-dataplane", []string{EdgewayDataplaneImage}, true},
}

// imagesRecipe changes when the build flags below change, so that binaries
// built otherwise are not taken for current.
const imagesRecipe = "2 CGO_ENABLED=0 netpollfifo"

// netpollFIFO reports whether edgeway's images get hack/netpollfifo's
// overlay: unless NETPOLL_FIFO=0, as with make build.
func netpollFIFO() bool { return os.Getenv("NETPOLL_FIFO") != "0" }

// buildImages builds the default images' binaries into a cache directory
// keyed by go.mod, go.sum, the recipe and the platform (as
// hack/kube-bins.sh keys the control plane), and returns the default
// node.Images with extra merged over them.
//
// go build runs on every call: it relinks nothing that is up to date (well
// under a second with a warm build cache), and rebuilds what changed, which
// matters for edgeway and coredns, whose source is this checkout. All
// binaries are static (CGO_ENABLED=0), as container images' would be.
func buildImages(ctx context.Context, extra node.Images) (node.Images, string, error) {
	root, err := kubebin.RepoRoot()
	if err != nil {
		return nil, "", fmt.Errorf("cluster: the default images are built from the edgeway checkout: %w", err)
	}
	dir, err := imagesDir(root)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("cluster: images: %w", err)
	}
	// Two clusters starting at once (parallel test binaries) would link
	// into the same files.
	unlock, err := flock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	// go build replaces an output file by removing and rewriting it; a
	// cluster already running (another test process, make cluster-up) would
	// then find no binary when it starts a container. Build into a staging
	// directory beside the binaries and rename each into place: atomic, and
	// running containers keep the inode they exec'd.
	staging, err := os.MkdirTemp(dir, ".staging-")
	if err != nil {
		return nil, "", fmt.Errorf("cluster: images: %w", err)
	}
	defer os.RemoveAll(staging)
	var shipped []string
	if netpollFIFO() {
		flags, err := goCommand(ctx, root, "run", "./hack/netpollfifo")
		if err != nil {
			return nil, "", err
		}
		shipped = strings.Fields(flags)
	}
	for _, asMakeBuild := range []bool{false, true} {
		args := []string{"build", "-o", staging + "/"}
		if asMakeBuild {
			args = append(args, shipped...)
		}
		for _, b := range imageBuilds {
			if b.asMakeBuild == asMakeBuild {
				args = append(args, b.pkg)
			}
		}
		if _, err := goCommand(ctx, root, args...); err != nil {
			return nil, "", err
		}
	}
	for _, b := range imageBuilds {
		if err := os.Rename(filepath.Join(staging, b.binary), filepath.Join(dir, b.binary)); err != nil {
			return nil, "", fmt.Errorf("cluster: images: %w", err)
		}
	}
	images := node.Images{
		"busybox":                   node.Shell(),
		"docker.io/library/busybox": node.Shell(),
	}
	for _, b := range imageBuilds {
		for _, img := range b.images {
			images[img] = node.Command(filepath.Join(dir, b.binary))
		}
	}
	maps.Copy(images, extra)
	return images, dir, nil
}

// goCommand runs go with args in root as the images are built (static,
// the module as go.sum has it) and returns its standard output.
func goCommand(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster: build the images' binaries (%s in %s): %w\n%s%s", cmd, root, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// imagesDir is <user cache>/edgeway/images/<key>, the key a hash of go.mod,
// go.sum, the recipe, the platform and the checkout's path.
func imagesDir(root string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = filepath.Join(root, ".cache")
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", fmt.Errorf("cluster: images: %w", err)
		}
		h.Write(b)
	}
	fmt.Fprintf(h, "recipe=%s %s %s netpollfifo=%v", imagesRecipe, runtime.GOOS, runtime.GOARCH, netpollFIFO())
	// The checkout too: the binaries are rebuilt from it whenever a
	// cluster starts, and Pods that start later exec the path, so two
	// checkouts (git worktrees) sharing a directory would run each other's
	// code.
	fmt.Fprintf(h, " checkout=%s", root)
	return filepath.Join(base, "edgeway", "images", hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// flock takes an exclusive lock on path, waiting for any holder.
func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
