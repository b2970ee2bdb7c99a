package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// How a container process starts.
//
// The node starts every container process as /proc/self/exe (the node's own
// binary, or the test binary) with argv[0] = helperArg0 and a JSON
// containerSpec as argv[1], in new mount and UTS namespaces
// (SysProcAttr.Unshareflags; Go makes every mount in the new namespace
// private, so nothing done there propagates to the host) and in the pod's
// network namespace (startIn, spawner_linux.go). This package's init function
// recognizes argv[0] and, before main or TestMain runs, becomes the helper:
//
//  1. it detaches /run/netns, so the container's mount namespace holds no
//     reference to other pods' network namespaces (which would otherwise live
//     on, emptied, until this container exits);
//  2. it bind-mounts every volume at its mountPath (read-only where the
//     volume or mount says so), in mountPath order so nested mounts work;
//  3. it sets the hostname and working directory and execs the container's
//     binary with the environment it was given.
//
// A mountPath that exists on the host is mounted over (only inside the
// container's namespace). One that does not exist is never created on the
// host: the helper finds its deepest existing ancestor directory, covers it
// (inside the namespace only) with a tmpfs that mirrors the ancestor's
// entries (each directory and file bind-mounted from the original, each
// symlink copied), and creates the missing directories in that tmpfs. So
// /var/run/secrets/kubernetes.io/serviceaccount on a host without
// /run/secrets shows the host's /run unchanged plus the new secrets
// directory, and the host's /run never gains one. The namespace and every
// mount in it disappear when the container's last process exits. The one
// thing a container cannot have is a new top-level directory (a mount path
// like /data on a host without /data), because the root itself cannot be
// covered; the error says so.
//
// Errors before exec are written to fd 3, a close-on-exec pipe the node
// reads: nothing arrives there when exec succeeds.

// helperArg0 is argv[0] of a container helper process.
const helperArg0 = "edgeway-node-container"

// containerSpec is what the helper does.
type containerSpec struct {
	Path     string      `json:"path"`
	Argv     []string    `json:"argv"`
	Dir      string      `json:"dir,omitempty"`
	Hostname string      `json:"hostname,omitempty"`
	Mounts   []mountSpec `json:"mounts,omitempty"`
}

type mountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// netnsDir is where podnet (and iproute2) keep named network namespaces.
const netnsDir = "/run/netns"

func init() {
	if len(os.Args) != 2 || os.Args[0] != helperArg0 {
		return
	}
	err := runHelper(os.Args[1])
	// Only reached on failure.
	report := os.NewFile(3, "start-error")
	if report != nil {
		fmt.Fprint(report, err.Error())
	}
	os.Exit(127)
}

func runHelper(specJSON string) error {
	// fd 3 is the error pipe: close it on exec so that the node sees EOF
	// when the container's binary has started.
	if _, err := unix.FcntlInt(3, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("container helper: fd 3: %w", err)
	}
	var spec containerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("container helper: bad spec: %w", err)
	}
	if err := unix.Unmount(netnsDir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("detach %s in the container's mount namespace: %w", netnsDir, err)
	}
	// A volume may cover the directory that holds the binary (the suite's
	// coredns mounts a ConfigMap at /root, and the binaries live under
	// /root/.cache when the node runs as root): hold the binary open from
	// before the mounts, and exec it through that descriptor if its path no
	// longer leads to the same file.
	bin, err := os.Open(spec.Path)
	if err != nil {
		return fmt.Errorf("container binary %s: %w", spec.Path, err)
	}
	binInfo, err := bin.Stat()
	if err != nil {
		return fmt.Errorf("container binary %s: %w", spec.Path, err)
	}
	m := &mounter{ours: map[string]bool{}}
	mounts := append([]mountSpec{}, spec.Mounts...)
	sort.SliceStable(mounts, func(i, j int) bool { return depth(mounts[i].Target) < depth(mounts[j].Target) })
	for _, ms := range mounts {
		if err := m.mount(ms); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("working directory %s: %w (it must exist on this host or inside a volume)", dir, err)
	}
	path := spec.Path
	if fi, err := os.Stat(path); err != nil || !os.SameFile(fi, binInfo) {
		// The descriptor is close-on-exec; the kernel opens the file
		// before it closes such descriptors, so an ELF binary runs.
		path = fmt.Sprintf("/proc/self/fd/%d", bin.Fd())
	}
	err = syscall.Exec(path, spec.Argv, os.Environ())
	return fmt.Errorf("exec %s: %w", spec.Path, err)
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// mounter remembers the directories that exist only inside the container's
// mount namespace (tmpfs covers and what it created in them): those may be
// written to. Every other directory is the host's, also when it shows
// through a cover as a bind mount of the original.
type mounter struct {
	ours map[string]bool
}

func (m *mounter) mount(ms mountSpec) error {
	if !filepath.IsAbs(ms.Target) {
		return fmt.Errorf("mountPath %q is not absolute", ms.Target)
	}
	src, err := os.Stat(ms.Source)
	if err != nil {
		return fmt.Errorf("mount %s: source: %w", ms.Target, err)
	}
	target, err := m.prepareTarget(filepath.Clean(ms.Target), src.IsDir())
	if err != nil {
		return fmt.Errorf("mount %s: %w", ms.Target, err)
	}
	if err := unix.Mount(ms.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", ms.Source, ms.Target, err)
	}
	if ms.ReadOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", ms.Target, err)
		}
	}
	return nil
}

// prepareTarget returns the path to mount on, making it exist inside the
// namespace without creating anything on the host.
func (m *mounter) prepareTarget(target string, dir bool) (string, error) {
	if target == "/" {
		return "", fmt.Errorf("cannot mount a volume on /")
	}
	if st, err := os.Stat(target); err == nil {
		if st.IsDir() != dir {
			return "", fmt.Errorf("the host has a %s at this path and the volume is a %s", kind(st.IsDir()), kind(dir))
		}
		return target, nil
	}
	// The deepest existing ancestor, and what is missing below it.
	parts := strings.Split(strings.TrimPrefix(target, "/"), "/")
	ancestor := "/"
	i := 0
	dangling := false
	for ; i < len(parts); i++ {
		next := filepath.Join(ancestor, parts[i])
		st, err := os.Stat(next)
		if err != nil {
			if _, lerr := os.Lstat(next); lerr == nil {
				// A symlink to nothing: replaceable only as the last element.
				if i != len(parts)-1 {
					return "", fmt.Errorf("%s is a symlink whose target does not exist on this host", next)
				}
				dangling = true
			}
			break
		}
		if !st.IsDir() {
			return "", fmt.Errorf("%s is a file on this host, not a directory", next)
		}
		ancestor = next
	}
	base, err := filepath.EvalSymlinks(ancestor)
	if err != nil {
		return "", err
	}
	if !m.ours[base] {
		if base == "/" {
			return "", fmt.Errorf("/%s does not exist on this host, and the node cannot add top-level directories to a container (it would have to cover /); mount the volume below an existing directory", parts[0])
		}
		if err := m.cover(base); err != nil {
			return "", err
		}
	}
	p := base
	for j := i; j < len(parts); j++ {
		p = filepath.Join(p, parts[j])
		if j == len(parts)-1 {
			break
		}
		if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			return "", err
		}
		m.ours[p] = true
	}
	if dangling {
		// The cover copied the symlink; the mount point replaces it.
		if err := os.Remove(p); err != nil {
			return "", err
		}
	}
	if dir {
		if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			return "", err
		}
		m.ours[p] = true
		return p, nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	return p, f.Close()
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "file"
}

// cover mounts a tmpfs on dir that mirrors dir's entries: directories and
// files are bind mounts of the originals (reached through a descriptor
// opened before the tmpfs hid them), symlinks are copies.
func (m *mounter) cover(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	orig := "/proc/self/fd/" + strconv.Itoa(fd)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	opts := fmt.Sprintf("mode=%o,uid=%d,gid=%d", uint32(st.Mode().Perm()), sys.Uid, sys.Gid)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("cover %s with a tmpfs: %w", dir, err)
	}
	for _, e := range entries {
		from := filepath.Join(orig, e.Name())
		to := filepath.Join(dir, e.Name())
		info, err := os.Lstat(from)
		if err != nil {
			continue // gone meanwhile
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, to); err != nil {
				return err
			}
			continue
		case info.IsDir():
			if err := os.Mkdir(to, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			f.Close()
		}
		if err := unix.Mount(from, to, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mirror %s in the tmpfs covering %s: %w", to, dir, err)
		}
	}
	m.ours[dir] = true
	return nil
}
