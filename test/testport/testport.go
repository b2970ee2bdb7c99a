// Package testport picks loopback ports for tests that must name a port
// before the process that listens on it starts (a gateway's listener in a
// YAML file, a flag of a child process).
//
// The usual trick, listening on 127.0.0.1:0 and closing, hands out a port
// from the kernel's ephemeral range, and the kernel hands the same port to
// the next socket that binds port 0 or connects: in CI a gateway's own xDS
// server (which binds :0) took the port a test had just picked for the
// gateway's listener, and the listener could not bind. Ports below the
// ephemeral range are never handed out by the kernel, so a port picked there
// can only collide with another explicit pick. Within a process a map rules
// that out. Between processes (go test runs packages in parallel) binding to
// check is not enough: two processes can both find a port free before
// either's listener starts, as a CI run saw (a gateway's listener found its
// port taken by another package's pick). So a pick also holds an exclusive
// flock on a file named after the port in a directory every test process
// shares, until its process exits; another process skips a locked port. The
// kernel drops the lock with the process, so a crashed test leaves nothing
// held.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Below the ephemeral range: [low, ephemeralLow).
const low = 20000

var (
	mu     sync.Mutex
	picked = map[int]bool{} // never hand out the same port twice in one process
	held   []*os.File       // the lock files of this process's picks, open until it exits
)

// lockDir is where the picks' lock files live: one directory for every test
// process of the machine (os.TempDir: $TMPDIR or /tmp).
func lockDir() string { return filepath.Join(os.TempDir(), "edgeway-testport") }

// Pick returns a port on 127.0.0.1 that is free for TCP and UDP now and that
// the kernel does not give to port-0 binds or outgoing connections.
func Pick() (int, error) {
	high := ephemeralLow()
	if high <= low+1000 {
		return pickEphemeral()
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := low + rand.IntN(high-low)
		if picked[p] || !free(p) || !reserve(p) {
			continue
		}
		picked[p] = true
		return p, nil
	}
	return 0, errors.New("testport: no free port below the ephemeral range on 127.0.0.1 after 200 tries")
}

// ephemeralLow reads the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var first, last int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &first, &last); err != nil {
		return 32768
	}
	return first
}

// reserve takes port p for this process against the other test processes:
// false when another holds it. Where no lock can be taken at all (no
// writable temporary directory), the pick goes on unreserved, as before.
func reserve(p int) bool {
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	// Shared by every user's test processes (root's make test and a
	// developer's make test-unit on one machine): sticky and writable by
	// all, as /tmp itself (only its creator can set it), and each lock file
	// opened read-only, which flock needs no more than, so that another
	// user's file (0644 under the usual umask) locks too.
	_ = os.Chmod(dir, 0o777|os.ModeSticky)
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return !errors.Is(err, syscall.EWOULDBLOCK)
	}
	held = append(held, f)
	return true
}

func free(p int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// pickEphemeral is the fallback for a machine whose ephemeral range leaves
// no room below it.
func pickEphemeral() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
