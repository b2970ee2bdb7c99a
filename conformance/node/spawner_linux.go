package node

import (
	"fmt"
	"os/exec"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
)

// Container processes are started with SysProcAttr.Pdeathsig = SIGKILL, so
// a node process that dies takes its pods with it. Linux sends that signal
// when the *thread* that forked the child exits, and Go ends an OS thread
// whenever a goroutine locked to it returns without unlocking, which podnet
// does on purpose after working inside a namespace (createNetns, Pod.Do).
// A thread that started a container and went back to Go's pool can later
// run such a goroutine and die, killing the container: seen as containers
// exiting with signal 9 right after start while other pods were being
// created. So every container is started from one OS thread that is locked
// for the life of the process and never runs anything else: it enters the
// pod's network namespace, forks, and returns to the host's namespace.

type spawnRequest struct {
	netnsPath string // "" keeps the host's network namespace
	cmd       *exec.Cmd
	done      chan error
}

var (
	spawnOnce sync.Once
	spawnReqs chan spawnRequest
)

// startIn starts cmd in the network namespace at netnsPath ("" for the
// host's) from the spawner thread.
func startIn(netnsPath string, cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnRequest)
		ready := make(chan struct{})
		go spawner(ready)
		<-ready
	})
	req := spawnRequest{netnsPath: netnsPath, cmd: cmd, done: make(chan error, 1)}
	spawnReqs <- req
	return <-req.done
}

func spawner(ready chan<- struct{}) {
	runtime.LockOSThread() // never unlocked: see above
	host, err := netns.Get()
	close(ready)
	if err != nil {
		for req := range spawnReqs {
			req.done <- fmt.Errorf("node: open the host's network namespace: %w", err)
		}
	}
	var stuck error
	for req := range spawnReqs {
		if stuck != nil {
			req.done <- stuck
			continue
		}
		req.done <- spawnOne(host, req, &stuck)
	}
}

func spawnOne(host netns.NsHandle, req spawnRequest, stuck *error) error {
	if req.netnsPath == "" {
		return req.cmd.Start()
	}
	target, err := netns.GetFromPath(req.netnsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", req.netnsPath, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", req.netnsPath, err)
	}
	startErr := req.cmd.Start()
	if err := netns.Set(host); err != nil {
		// The thread cannot exit without killing every container, and must
		// not start anything else in this pod's namespace.
		*stuck = fmt.Errorf("node: the container spawner thread could not return from network namespace %s (%v): no more containers can start; restart the node", req.netnsPath, err)
	}
	return startErr
}
