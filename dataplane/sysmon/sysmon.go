// Package sysmon keeps the Go runtime's system monitor on its slow tick in
// the processes that serve traffic (the data plane, standalone).
//
// Why: sysmon is the runtime's watchdog thread. Whenever the process has
// nothing to run, sysmon goes to sleep until the next system call wakes it
// (a futex wake), and then polls every 20 µs for a millisecond or more. A
// poll that finds a goroutine still in a system call it saw at the poll
// before takes the goroutine's P and hands it to another thread (a second
// futex wake, and the first thread parks when its call returns). A proxy
// that is not fully loaded goes idle thousands of times a second, and its
// writes to loopback take about 10 µs: on one core, that core then goes to
// thread switches. Measured on the passthrough scenario of the peer harness
// (bench/peers/README.md, "the Go runtime's sysmon"): the work spread over
// three threads against one, 2-3 times the context switches; with sysmon
// kept on its slow tick, 18-34% more requests per CPU-second.
//
// The runtime has no setting for sysmon's tick (golang/go#18236). It does
// keep sysmon from that sleep while GODEBUG's schedtrace is set, so that
// sysmon can print the trace on time: sysmon then backs off to its 10 ms tick
// and stays there, and only a system call that spans two of its polls (one
// that blocks, a file write say) brings the 20 µs polls back, as without the
// setting. Steady sets it, to print every 24.8 days (the largest period the
// runtime takes), by executing the program again with it: the runtime reads
// GODEBUG's runtime settings only as the process starts.
//
// What it costs: an idle process's sysmon wakes every 10 ms instead of
// sleeping (an idle data plane on this VM: 0.14 s of CPU in 30 s, about 0.5%
// of a core, against none), and the runtime writes one "SCHED" line to standard error every
// 24.8 days of the machine's uptime, the first as the process starts on a
// machine up for longer. A GODEBUG that already names schedtrace (schedtrace=0
// turns this off) is left as it is.
package sysmon

import (
	"strings"
)

// setting is what Steady adds to GODEBUG: the trace period in milliseconds,
// the largest int32 (parsegodebug in the runtime takes 32 bits).
const setting = "schedtrace=2147483647"

// godebugWith returns the environment env with setting added to GODEBUG, and
// false when there is nothing to do: GODEBUG already names schedtrace,
// whatever its value (the operator's choice, or this process is the one
// Steady executed).
func godebugWith(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		if found {
			continue // the runtime reads the first GODEBUG only
		}
		found = true
		if names(v, "schedtrace") {
			return env, false
		}
		if v == "" {
			kv = "GODEBUG=" + setting
		} else {
			kv = "GODEBUG=" + v + "," + setting
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+setting)
	}
	return out, true
}

// names reports whether the GODEBUG value godebug sets key, read as the
// runtime reads it: "a=1, key=2" sets " key", not key.
func names(godebug, key string) bool {
	for field := range strings.SplitSeq(godebug, ",") {
		if k, _, ok := strings.Cut(field, "="); ok && k == key {
			return true
		}
	}
	return false
}
