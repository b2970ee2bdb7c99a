package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// createNetns creates the named network namespace /run/netns/<name> the way
// `ip netns add` does, so iproute2 sees and handles it like its own.
func createNetns(name string) error {
	if err := prepareNetnsDir(); err != nil {
		return err
	}
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("podnet: create network namespace file %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends up in the new namespace, and a
		// goroutine that exits while locked takes its thread with it, so no
		// other goroutine ever runs in that namespace by accident.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("podnet: create network namespace %s: unshare: %w", name, err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("podnet: create network namespace %s: bind-mount it on %s: %w", name, path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// prepareNetnsDir makes /run/netns a shared mount point, as iproute2 does, so
// unmounting a namespace there also unmounts it in other mount namespaces and
// the namespace can be freed.
func prepareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("podnet: create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("podnet: bind-mount %s on itself: %w", netnsDir, err)
		}
		err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("podnet: make %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// deleteNetns removes the named namespace; the namespace itself goes away
// once no process is left in it. A missing namespace is not an error.
func deleteNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("podnet: unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: remove network namespace file %s: %w", path, err)
	}
	return nil
}

// inNetns runs fn on an OS thread inside the namespace at path. The thread is
// discarded afterwards instead of being switched back, so whatever fn did to
// it stays with it.
func inNetns(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("podnet: open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see createNetns
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("podnet: enter network namespace %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// startInNetns starts cmd with the network namespace at path. The starting
// thread is switched back to the original namespace and returned to the
// runtime (not discarded). That alone does not make SysProcAttr.Pdeathsig
// safe: the pooled thread may later be discarded with another locked
// goroutine (see the package doc, "Processes").
func startInNetns(path string, start func() error) error {
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("podnet: open network namespace %s: %w", path, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: open this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: enter network namespace %s: %w", path, err)
			return
		}
		startErr := start()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		// Otherwise stay locked: the thread dies with this goroutine rather
		// than run other goroutines inside the pod's namespace. (Setting back
		// a namespace this thread was just in does not fail in practice.)
		errc <- startErr
	}()
	return <-errc
}
