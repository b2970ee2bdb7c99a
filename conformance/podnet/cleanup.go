package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// killWait bounds how long Cleanup waits for killed pod processes to exit.
const killWait = 10 * time.Second

// Cleanup removes network id (under stateRoot; empty means DefaultStateRoot)
// from the host: it kills every process still inside one of its namespaces,
// deletes its host veths and bridge (and with it the host addresses),
// its namespaces, its Service CIDR route, and finally its state directory.
// It works from the state directory and also by name, so it needs nothing
// but the ID after a crash; it never touches an object whose name lacks the
// network's prefix. It is idempotent: a network that is already gone is not
// an error. On error the state directory is kept, so Cleanup can be retried.
func Cleanup(stateRoot, id string) error {
	if err := validateID(id); err != nil {
		return err
	}
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	dir := filepath.Join(stateRoot, id)
	unlock, err := lockNetwork(dir)
	switch {
	case err == nil:
		defer unlock()
	case !isNotExist(err):
		return fmt.Errorf("podnet: cleanup %s: %w", id, err)
	}
	st, stErr := loadState(dir)
	if stErr != nil && !isNotExist(stErr) {
		st = nil // corrupt: work by name alone
	}

	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("podnet: cleanup %s: open a netlink socket (podnet needs root): %w", id, err)
	}
	defer h.Close()

	prefix := podPrefix(id)
	namespaces := map[string]bool{}
	veths := map[string]bool{}
	if st != nil {
		for _, ps := range st.Pods {
			if strings.HasPrefix(ps.Netns, prefix) {
				namespaces[ps.Netns] = true
			}
			if strings.HasPrefix(ps.Veth, prefix) {
				veths[ps.Veth] = true
			}
		}
	}
	if entries, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				namespaces[e.Name()] = true
			}
		}
	}
	links, err := listLinks(h)
	if err != nil {
		return fmt.Errorf("podnet: cleanup %s: %w", id, err)
	}
	var bridge netlink.Link
	for _, l := range links {
		name := l.Attrs().Name
		switch {
		case strings.HasPrefix(name, prefix):
			veths[name] = true
		case name == bridgeName(id):
			bridge = l
		}
	}

	var errs []error
	var paths []string
	for ns := range namespaces {
		paths = append(paths, filepath.Join(netnsDir, ns))
	}
	if err := killProcessesIn(paths); err != nil {
		errs = append(errs, err)
	}
	for name := range veths {
		if err := deleteLink(h, name); err != nil {
			errs = append(errs, err)
		}
	}
	if bridge != nil {
		if err := h.LinkDel(bridge); err != nil && !isLinkNotFound(err) {
			errs = append(errs, fmt.Errorf("podnet: delete bridge %s: %w", bridge.Attrs().Name, err))
		}
	}
	for ns := range namespaces {
		if err := deleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteServiceRoutes(h, id); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("podnet: cleanup %s is incomplete (state kept in %s; fix the cause and run Cleanup again): %w", id, dir, errors.Join(errs...))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("podnet: cleanup %s: remove state directory: %w", id, err)
	}
	return nil
}

// CleanupAll runs Cleanup for every network recorded under stateRoot (empty
// means DefaultStateRoot), then removes stateRoot if it is left empty.
func CleanupAll(stateRoot string) error {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	entries, err := os.ReadDir(stateRoot)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("podnet: list networks in %s: %w", stateRoot, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && validateID(e.Name()) == nil {
			if err := Cleanup(stateRoot, e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	os.Remove(stateRoot) // only succeeds when empty, which is all we want
	return errors.Join(errs...)
}

func deleteLink(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		if isLinkNotFound(err) {
			return nil // a veth goes with its peer
		}
		return fmt.Errorf("podnet: look up link %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil && !isLinkNotFound(err) {
		return fmt.Errorf("podnet: delete link %s: %w", name, err)
	}
	return nil
}

// deleteServiceRoutes deletes id's Service CIDR route, recognised by
// podnet's protocol and id's metric, whether or not the state recorded it.
func deleteServiceRoutes(h *netlink.Handle, id string) error {
	var routes []netlink.Route
	var err error
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: routeProtocol, Type: unix.RTN_UNREACHABLE}
	for i := 0; i < dumpRetries; i++ {
		routes, err = h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TYPE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("podnet: list routes: %w", err)
	}
	metric := serviceRouteMetric(id)
	var errs []error
	for _, r := range routes {
		if uint32(r.Priority) != metric {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("podnet: delete route unreachable %s metric %d: %w", prefixOf(r.Dst), metric, err))
		}
	}
	return errors.Join(errs...)
}

// nsKey identifies a network namespace (the nsfs inode).
type nsKey struct{ dev, ino uint64 }

func nsKeyOf(path string) (nsKey, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsKey{}, false
	}
	return nsKey{uint64(st.Dev), st.Ino}, true
}

// killProcessesIn sends SIGKILL to every process (other than this one) whose
// network namespace is one of the namespaces at paths, and waits for them to
// be gone. Those processes were started in a pod and would otherwise outlive
// its owner and keep the namespace alive.
func killProcessesIn(paths []string) error {
	targets := map[nsKey]bool{}
	for _, p := range paths {
		if k, ok := nsKeyOf(p); ok {
			targets[k] = true
		}
	}
	if len(targets) == 0 {
		return nil
	}
	inTarget := func(pid int) bool {
		k, ok := nsKeyOf("/proc/" + strconv.Itoa(pid) + "/ns/net")
		return ok && targets[k]
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("podnet: list processes: %w", err)
	}
	self := os.Getpid()
	var killed []int
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !inTarget(pid) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("podnet: kill pod process %d: %w", pid, err))
			continue
		}
		killed = append(killed, pid)
	}
	deadline := time.Now().Add(killWait)
	for _, pid := range killed {
		// A killed process leaves its namespaces when it exits (even while it
		// waits as a zombie for its parent).
		for inTarget(pid) {
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("podnet: pod process %d is still running %s after SIGKILL", pid, killWait))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}
