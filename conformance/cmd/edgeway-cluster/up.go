package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/conformance/cluster"
)

// upTimeout bounds the wait for the cluster: a first start builds the
// images' binaries (edgeway's cold build takes minutes on 2 cores).
const upTimeout = 30 * time.Minute

// up starts `serve` detached (its own session, output in the cluster's
// log) and waits until it reports the cluster ready.
func up(o options) error {
	if pid, alive, err := cluster.RecordedProcess(o.servePidFile()); err != nil {
		return err
	} else if alive {
		fmt.Printf("cluster %s is already up (pid %d).\nkubeconfig: %s\nexport KUBECONFIG=%s\n", o.id, pid, o.kubeconfig(), o.kubeconfig())
		return nil
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.Create(o.logFile())
	if err != nil {
		return err
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()

	args := []string{"serve", "--id", o.id, "--dir", o.dir}
	if o.stateRoot != "" {
		args = append(args, "--state-root", o.stateRoot)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.ExtraFiles = []*os.File{readyW} // fd 3 = readyFD
	// Its own session: it outlives this command and the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyW.Close()
		return fmt.Errorf("start %s serve: %w", self, err)
	}
	readyW.Close()
	if err := cluster.RecordProcess(o.servePidFile(), cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	// Reap it if it exits while we wait; once we exit, init does.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	fmt.Printf("starting cluster %s (log: %s) ...\n", o.id, o.logFile())
	got := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(readyR).ReadString('\n')
		got <- line == readyLine
	}()
	select {
	case ok := <-got:
		if !ok {
			// Give the exit a moment to be reaped, so the message can say how.
			var how error
			select {
			case how = <-exited:
			case <-time.After(5 * time.Second):
			}
			os.Remove(o.servePidFile())
			return fmt.Errorf("the cluster did not start (serve: %v); the end of %s:\n%s", how, o.logFile(), tailFile(o.logFile(), 40))
		}
	case <-time.After(upTimeout):
		return fmt.Errorf("the cluster is not ready after %s; it keeps starting in the background (pid %d): see %s, and stop it with `edgeway-cluster down`",
			upTimeout, cmd.Process.Pid, o.logFile())
	}
	fmt.Printf("cluster %s is up (pid %d).\nkubeconfig: %s\nexport KUBECONFIG=%s\n", o.id, cmd.Process.Pid, o.kubeconfig(), o.kubeconfig())
	return nil
}
