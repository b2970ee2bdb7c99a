package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A proxy that writes to a process asleep in its poll (the load generator,
// the backend) wakes it; on another CPU that is an interprocessor interrupt,
// paid by the proxy's core and, in a virtual machine, a trap to the
// hypervisor. How often a proxy does that per request says how well it
// batches its writes, and it is a count: the host's steal, which blurs the
// times, leaves it alone. perf counts it with the scheduler's
// sched:sched_waking tracepoint on the proxy's threads (the wake-ups they
// cause, of any process, their own threads included). Without perf, or
// without the permission to read tracepoints, the figure is not known.

// wakeEvent is the tracepoint counted.
const wakeEvent = "sched:sched_waking"

// wakeCounter is a perf stat attached to one process for a measured run.
type wakeCounter struct {
	cmd  *exec.Cmd
	out  string // perf's CSV output
	done chan error
}

// startWakeCount attaches perf stat to pid; nil when it cannot (no perf,
// no such process). dir holds perf's output file.
func startWakeCount(pid int, dir string) *wakeCounter {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil
	}
	f, err := os.CreateTemp(dir, "wakes-*.csv")
	if err != nil {
		return nil
	}
	f.Close()
	w := &wakeCounter{out: f.Name(), done: make(chan error, 1)}
	w.cmd = exec.Command(perf, "stat", "-x", ",", "-e", wakeEvent, "-p", strconv.Itoa(pid), "-o", w.out)
	if err := w.cmd.Start(); err != nil {
		os.Remove(w.out)
		return nil
	}
	go func() { w.done <- w.cmd.Wait() }()
	// perf attaches to the threads some time after it starts: on a busy
	// machine more than a short run lasts, and a SIGINT before it has its
	// handler kills it with nothing written. Wait until it holds its
	// counters (its perf_event descriptors), or has exited, or a while.
	waitAttached(w.cmd.Process.Pid, w.done, 3*time.Second)
	return w
}

// waitAttached returns once the process pid has a perf_event file
// descriptor open, once done has a value (put back for stop), or after
// limit.
func waitAttached(pid int, done chan error, limit time.Duration) {
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		entries, _ := os.ReadDir(fdDir)
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && target == "anon_inode:[perf_event]" {
				return
			}
		}
	}
}

// stop ends the count and returns the wake-ups since start; false when
// they are not known (perf failed, or counted nothing).
func (w *wakeCounter) stop() (int64, bool) {
	if w == nil {
		return 0, false
	}
	defer os.Remove(w.out)
	_ = w.cmd.Process.Signal(syscall.SIGINT) // perf stat prints its counts on SIGINT
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
		return 0, false
	}
	b, err := os.ReadFile(w.out)
	if err != nil {
		return 0, false
	}
	return perfStatCount(string(b), wakeEvent)
}

// perfStatCount reads one event's count from perf stat's CSV output (-x ,):
// "count,unit,event,run time,share,..." per event, after "#" comments. A
// count of "<not counted>" or "<not supported>" is not known.
func perfStatCount(csv, event string) (int64, bool) {
	for line := range strings.SplitSeq(csv, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || strings.HasPrefix(line, "#") || f[2] != event {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// wakeDir is where perf's output goes while a run is measured.
func (h *harness) wakeDir() string {
	d := filepath.Join(h.workDir, "wakes")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return os.TempDir()
	}
	return d
}
