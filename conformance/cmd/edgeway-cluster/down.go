package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeway/edgeway/conformance/cluster"
	"github.com/edgeway/edgeway/conformance/podnet"
)

// stopGrace is how long down waits for serve to stop the cluster (pods get
// their grace periods, then the control plane stops) before killing it.
const stopGrace = 2 * time.Minute

// down stops serve (SIGTERM, then SIGKILL after stopGrace), then runs
// cluster.Down, which removes whatever serve left: it works the same after
// serve crashed or was killed.
func down(o options) error {
	pid, alive, err := cluster.RecordedProcess(o.servePidFile())
	if err != nil {
		return err
	}
	if alive {
		fmt.Printf("stopping cluster %s (pid %d) ...\n", o.id, pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(stopGrace)
		for time.Now().Before(deadline) {
			if _, alive, _ = cluster.RecordedProcess(o.servePidFile()); !alive {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if alive {
			fmt.Printf("it did not stop within %s: killing it (see %s)\n", stopGrace, o.logFile())
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := cluster.Down(o.stateRoot, o.id); err != nil {
		return err
	}
	os.Remove(o.servePidFile())
	fmt.Printf("cluster %s is down (logs kept in %s)\n", o.id, o.dir)
	return nil
}

// status says whether serve runs and the API server answers, or whether a
// crashed cluster left something for down to remove.
func status(o options) error {
	pid, alive, err := cluster.RecordedProcess(o.servePidFile())
	if err != nil {
		return err
	}
	root := o.stateRoot
	if root == "" {
		root = podnet.DefaultStateRoot
	}
	if !alive {
		if _, err := os.Stat(filepath.Join(root, o.id)); err == nil {
			return fmt.Errorf("cluster %s is not running, but left state in %s: run `edgeway-cluster down`", o.id, filepath.Join(root, o.id))
		}
		return fmt.Errorf("cluster %s is not running", o.id)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig())
	if err != nil {
		fmt.Printf("cluster %s: serve runs (pid %d), still starting (no kubeconfig yet; log: %s)\n", o.id, pid, o.logFile())
		return nil
	}
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ready, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
	if err != nil || !bytes.Equal(ready, []byte("ok")) {
		return fmt.Errorf("cluster %s: serve runs (pid %d) but the API server at %s does not answer ready (%v); log: %s", o.id, pid, cfg.Host, err, o.logFile())
	}
	fmt.Printf("cluster %s is up (pid %d), API server %s ready.\nkubeconfig: %s\nexport KUBECONFIG=%s\n", o.id, pid, cfg.Host, o.kubeconfig(), o.kubeconfig())
	return nil
}

// tailFile is the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
