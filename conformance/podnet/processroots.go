package podnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// SweepDeadProcessRoots cleans up after processes that died without doing it
// themselves (a test binary killed by its timeout, say). It is for callers
// that give each process its own state root, base/<pid>: every such root
// whose process is gone has all its networks removed (CleanupAll) and is
// deleted; the roots of live processes are not touched. Errors are reported
// on stderr and the root is kept for the next sweep.
func SweepDeadProcessRoots(base string) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		root := filepath.Join(base, e.Name())
		if err := CleanupAll(root); err != nil {
			fmt.Fprintf(os.Stderr, "cleaning up after dead process %d: %v\n", pid, err)
			continue
		}
		os.RemoveAll(root)
	}
}
