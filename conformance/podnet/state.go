package podnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// stateFile is the network's record inside its state directory. It is
// rewritten atomically (write, fsync, rename) so a crash leaves the old or the
// new version, never half of one.
const stateFile = "network.json"

// lockFile serialises processes working on the same network (a node and a
// cluster-down, say); the Network's mutex serialises goroutines.
const lockFile = "lock"

// state is everything a network created or is about to create. Whatever is in
// here is removed by Cleanup, so it is written before the kernel object exists.
type state struct {
	ID                 string               `json:"id"`
	Bridge             string               `json:"bridge"`
	PodCIDR            netip.Prefix         `json:"podCIDR"`
	Gateway            netip.Addr           `json:"gateway"`
	ServiceCIDR        netip.Prefix         `json:"serviceCIDR"`
	ServiceRouteMetric uint32               `json:"serviceRouteMetric"`
	Pods               map[string]*podState `json:"pods"`
	HostAddresses      []netip.Addr         `json:"hostAddresses"`
	// LastIP is the pod-block address handed out last; allocation continues
	// after it.
	LastIP netip.Addr `json:"lastIP"`
}

type podState struct {
	Index int        `json:"index"`
	Netns string     `json:"netns"`
	Veth  string     `json:"hostVeth"`
	IP    netip.Addr `json:"ip"`
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("podnet: state %s is corrupt (%v); Cleanup removes the network by name", filepath.Join(dir, stateFile), err)
	}
	if st.Pods == nil {
		st.Pods = map[string]*podState{}
	}
	return &st, nil
}

func (st *state) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("podnet: write state in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("podnet: write state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("podnet: sync state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("podnet: write state in %s: %w", dir, err)
	}
	return nil
}

// hostAddress reports whether ip is one of the network's host addresses.
func (st *state) hostAddress(ip netip.Addr) bool {
	for _, a := range st.HostAddresses {
		if a == ip {
			return true
		}
	}
	return false
}

func (st *state) removeHostAddress(ip netip.Addr) {
	out := st.HostAddresses[:0]
	for _, a := range st.HostAddresses {
		if a != ip {
			out = append(out, a)
		}
	}
	st.HostAddresses = out
}

// flock takes an exclusive lock on path (created if missing) and returns
// its release.
func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("podnet: open lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("podnet: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// lockNetwork takes the network's cross-process lock. It fails with
// fs.ErrNotExist when the state directory is gone.
func lockNetwork(dir string) (func(), error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return flock(filepath.Join(dir, lockFile))
}

// isNotExist reports a missing state directory or file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
