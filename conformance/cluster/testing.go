package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestStateRootBase holds one podnet state root per test process
// (<base>/<pid>): a test binary that was killed leaves its clusters under its
// own pid, and the next StartForTest removes them.
const TestStateRootBase = "/run/edgeway-cluster-test"

// StartForTest starts a cluster for a test (Start with a fresh ID under a
// state root of the test process) and stops it when the test ends. On a
// start error it fails the test with the tails of the logs; when the test
// failed, it logs those tails before stopping the cluster (whose directory
// Stop removes).
func StartForTest(t testing.TB) *Cluster {
	t.Helper()
	return startForTest(t, Config{})
}

// StartForTestWith is StartForTest with cfg (its StateRoot is replaced):
// for tests that run images of their own (Config.Images), e.g. the test
// binary itself or a helper built for the test.
func StartForTestWith(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	return startForTest(t, cfg)
}

// startForTest is StartForTest with cfg (its StateRoot is replaced).
func startForTest(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	SweepDeadTestClusters()
	root := filepath.Join(TestStateRootBase, strconv.Itoa(os.Getpid()))
	cfg.StateRoot = root
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster %s logs:%s", c.Network.ID(), c.logTails(40))
		}
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		os.Remove(root) // empty unless another cluster of this process still runs
	})
	return c
}

// SweepDeadTestClusters runs Down for every cluster of a test process that
// no longer runs (found under TestStateRootBase).
func SweepDeadTestClusters() {
	entries, _ := os.ReadDir(TestStateRootBase)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		root := filepath.Join(TestStateRootBase, e.Name())
		ids, _ := os.ReadDir(root)
		ok := true
		for _, id := range ids {
			if !id.IsDir() {
				continue
			}
			if err := Down(root, id.Name()); err != nil {
				fmt.Fprintf(os.Stderr, "cluster: cleaning up after dead test process %d: %v\n", pid, err)
				ok = false
			}
		}
		if ok {
			os.RemoveAll(root)
		}
	}
}
