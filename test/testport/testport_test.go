package testport

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// lockedElsewhere opens port p's lock file anew and tries to lock it, as
// another test process would: flock conflicts between open files, whether
// they are in one process or two.
func lockedElsewhere(t *testing.T, p int) (locked bool, release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(lockDir(), strconv.Itoa(p)), os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return false, func() { f.Close() }
	}
	f.Close()
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock: %v", err)
	}
	return true, func() {}
}

func TestPickHoldsThePortAgainstOtherProcesses(t *testing.T) {
	p, err := Pick()
	if err != nil {
		t.Fatal(err)
	}
	if p < low || p >= ephemeralLow() {
		t.Errorf("picked %d, outside [%d, %d)", p, low, ephemeralLow())
	}
	if locked, _ := lockedElsewhere(t, p); !locked {
		t.Fatalf("port %d is picked but another process could lock it too", p)
	}
}

func TestPortHeldByAnotherProcessIsSkipped(t *testing.T) {
	// A port no test process holds: lock it as another process would.
	p := low + 7
	var release func()
	for ; ; p++ {
		if picked[p] {
			continue
		}
		locked, rel := lockedElsewhere(t, p)
		if !locked {
			release = rel
			break
		}
	}
	if reserve(p) {
		t.Fatalf("reserve(%d) = true while another process holds it", p)
	}
	release()
	if !reserve(p) {
		t.Fatalf("reserve(%d) = false once the other process let it go", p)
	}
	if locked, _ := lockedElsewhere(t, p); !locked {
		t.Fatalf("port %d is reserved but not locked", p)
	}
}
