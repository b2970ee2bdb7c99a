package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The local cluster's node runs every container as a host process inside
// its pod's network namespace (conformance/node), so the controller's and
// the data plane's memory and CPU are read from /proc like any process's.

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100
// on every Linux architecture Go supports (the kernel converts to it
// whatever its internal tick rate).
const userHZ = 100

// procUsage is one reading of a process.
type procUsage struct {
	RSS     int64   // bytes resident now (VmRSS)
	Anon    int64   // of which anonymous memory (RssAnon: heap, stacks), not the binary's mapped pages
	PeakRSS int64   // the most resident since the process started (VmHWM)
	CPU     float64 // seconds of CPU, user + system, since the process started
}

// readUsage reads pid's resident memory and CPU time.
func readUsage(pid int) (procUsage, error) {
	var u procUsage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmRSS":
			u.RSS, err = parseKB(value)
		case "RssAnon":
			u.Anon, err = parseKB(value)
		case "VmHWM":
			u.PeakRSS, err = parseKB(value)
		}
		if err != nil {
			return u, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	u.CPU, err = parseStatCPU(stat)
	if err != nil {
		return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u, nil
}

// parseKB parses a /proc/<pid>/status size such as "  12345 kB".
func parseKB(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n * 1024, err
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line in
// seconds. The command name (field 2) may hold spaces and parentheses, so
// the fields are counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	// After ')': state is field 3, utime field 14, stime field 15.
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / userHZ, nil
}

// findPodProcess returns the pid of the process whose argv[0] is named
// binary, whose argv[1] is arg and that runs in the network namespace
// holding podIP. Pod IPs are unique on the host (every local cluster has
// its own block), so this finds the container even with other clusters,
// and their edgeways, running on the same machine.
func findPodProcess(binary, arg string, podIP netip.Addr) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var candidates int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // gone meanwhile
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) < 2 || filepath.Base(argv[0]) != binary || argv[1] != arg {
			continue
		}
		candidates++
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/fib_trie", pid))
		if err != nil {
			continue
		}
		local := hasLocalAddress(f, podIP)
		f.Close()
		if local {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process `%s %s` runs in the network namespace of pod IP %s (%d processes `%s %s` elsewhere); is the pod running on this host?",
		binary, arg, podIP, candidates, binary, arg)
}

// hasLocalAddress reports whether a /proc/<pid>/net/fib_trie lists ip as
// a local (/32 host LOCAL) address of that process's network namespace:
//
//	|-- 198.18.0.7
//	   /32 host LOCAL
func hasLocalAddress(fibTrie io.Reader, ip netip.Addr) bool {
	want := ip.String()
	var last string
	sc := bufio.NewScanner(fibTrie)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if a, ok := strings.CutPrefix(line, "|-- "); ok {
			last = a
			continue
		}
		if last == want && strings.HasPrefix(line, "/32 ") && strings.HasSuffix(line, " LOCAL") {
			return true
		}
	}
	return false
}
