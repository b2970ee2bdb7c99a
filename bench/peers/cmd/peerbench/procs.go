package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process this harness started, pinned to one CPU.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// niceness, when not 0, runs every benchmark process (proxies, backend,
// load generators) under `nice -n niceness` (BENCH_NICE).
var niceness int

// pinned is argv under `taskset -c cpu`, and nice when niceness is set.
// Both exec the program: the pid is the program's.
func pinned(cpu int, argv ...string) []string {
	out := []string{"taskset", "-c", strconv.Itoa(cpu)}
	if niceness != 0 {
		out = append([]string{"nice", "-n", strconv.Itoa(niceness)}, out...)
	}
	return append(out, argv...)
}

// startPinned runs argv pinned to cpu, in its own process group, its
// output in logPath. The process dies with the harness (Pdeathsig).
func startPinned(name string, cpu int, env []string, logPath string, argv ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	full := pinned(cpu, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive returns an error naming the exit and the log's tail once the
// process has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); the end of its log %s:\n%s", p.name, p.waitErr, p.logPath, tail(p.logPath, 20))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 10 s.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.exited
	}
}

// usage is what /proc says about the process at one moment.
type usage struct {
	CPU      time.Duration // user + system time of all its threads so far
	RSSKiB   int64         // VmRSS
	AnonKiB  int64         // RssAnon: heap, stacks; the rest is mostly the mapped binary (RssFile)
	PeakKiB  int64         // VmHWM, the peak RSS so far
	Affinity string        // Cpus_allowed_list, to show the pinning held
	// Switches is how often its threads were switched out so far, waiting
	// (voluntary) or preempted, summed over the threads it has now: a
	// thread that exited takes its count with it.
	Switches int64
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture this runs on (getconf CLK_TCK).
const clockTicks = 100

func readUsage(pid int) (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.Lines(string(status)) {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			u.RSSKiB, _ = strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		case "RssAnon":
			u.AnonKiB, _ = strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		case "VmHWM":
			u.PeakKiB, _ = strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		case "Cpus_allowed_list":
			u.Affinity = v
		}
	}
	if u.RSSKiB == 0 {
		return u, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	u.Switches, _ = threadSwitches(pid) // 0 when not known: not worth failing the run's figures
	return u, nil
}

// threadSwitches sums the context switches of every thread of pid: the
// process's own status file counts its first thread only.
func threadSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, t := range tasks {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		n += contextSwitches(string(status))
	}
	return n, nil
}

// contextSwitches is the voluntary plus involuntary switches of one
// thread's status file.
func contextSwitches(status string) int64 {
	var n int64
	for line := range strings.Lines(status) {
		k, v, _ := strings.Cut(line, ":")
		if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
			c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += c
		}
	}
	return n
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cpuTime is the CPU time pid's threads have run, summed from each
// thread's schedstat (nanoseconds, where /proc/<pid>/stat counts in ticks
// of 10 ms: too coarse for a few microseconds per request over a
// ten-second run). A thread that exited takes its time with it.
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: empty", pid, t.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %w", pid, t.Name(), err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
