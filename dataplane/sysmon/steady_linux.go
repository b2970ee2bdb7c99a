package sysmon

import (
	"fmt"
	"os"
	"syscall"
)

// Steady executes the running program again, with the same arguments and
// its GODEBUG set to keep sysmon on its slow tick (the package comment says
// why), unless GODEBUG already names schedtrace. It returns only when there
// is nothing to do, or with the error of an exec that failed (the caller goes
// on as it is: only the CPU per request suffers). Call it first thing in
// main, before any goroutine or file of the program's own: the process
// keeps its PID, its open descriptors not marked close-on-exec, and nothing
// else.
func Steady() error {
	env, ok := godebugWith(os.Environ())
	if !ok {
		return nil
	}
	// /proc/self/exe is the running binary even if its file was replaced or
	// removed since it started.
	if err := syscall.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("executing itself again with GODEBUG=%s (to keep the Go runtime's sysmon from waking every 20 µs after each idle moment): %w; set GODEBUG=schedtrace=0 to skip this", setting, err)
	}
	return nil // not reached: exec replaced the process
}
