package pebble

import "syscall"

// sysProcAttr kills the servers when the test binary dies without running
// its cleanups (a panic in another goroutine, a -timeout kill), so no Pebble
// is left listening after a crashed test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
