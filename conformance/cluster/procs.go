package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The control plane's binaries run as child processes of the process that
// called Start. Each one:
//   - writes stdout and stderr to Dir/<name>.log;
//   - is recorded in Dir/pids/<name>.pid ("<pid> <start time>") right after
//     it starts, so Down can stop it after the caller crashed; the start time
//     (field 22 of /proc/<pid>/stat) keeps Down from signalling an unrelated
//     process that reused the pid;
//   - gets SIGKILL when the caller dies (Pdeathsig), so that a killed test or
//     `serve` does not leave a control plane running even before Down.
//
// Pdeathsig fires when the *thread* that forked the child exits, not the
// process, and Go ends threads that a locked goroutine leaves (podnet does
// that on purpose after working in a namespace). So every child is forked
// from one OS thread that stays locked for the life of the process
// (conformance/node does the same for its containers).

// pidsDir is where the pid records live, under Config.Dir.
const pidsDir = "pids"

type forkRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	forkOnce sync.Once
	forkReqs chan forkRequest
)

// startChild starts cmd from the process's fork thread.
func startChild(cmd *exec.Cmd) error {
	forkOnce.Do(func() {
		forkReqs = make(chan forkRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: see above
			for req := range forkReqs {
				req.done <- req.cmd.Start()
			}
		}()
	})
	req := forkRequest{cmd: cmd, done: make(chan error, 1)}
	forkReqs <- req
	return <-req.done
}

// process is one running control-plane binary.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	pidPath string
	exited  chan struct{} // closed when the process has exited
	err     error         // its Wait error, valid once exited is closed
	log     *slog.Logger

	mu       sync.Mutex
	stopping bool
}

// startProcess runs bin with args as name, logging to dir/<name>.log and
// recording its pid in dir/pids/<name>.pid.
func startProcess(dir, name, bin string, args []string, log *slog.Logger) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL,
		// Its own process group: a Ctrl-C meant for `go test` does not
		// kill it before Stop has stopped what depends on it.
		Setpgid: true,
	}
	if err := startChild(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("cluster: start %s (%s): %w", name, bin, err)
	}
	p := &process{
		name:    name,
		cmd:     cmd,
		logPath: logPath,
		pidPath: filepath.Join(dir, pidsDir, name+".pid"),
		exited:  make(chan struct{}),
		log:     log,
	}
	if err := writePidRecord(p.pidPath, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if !stopping {
			log.Error("process exited unexpectedly; the cluster is broken: stop it and look at the log",
				"process", name, "err", p.err, "log", logPath, "tail", tail(logPath, 10))
		}
	}()
	log.Info("process started", "process", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// pid is the process's pid.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitError says that the process has exited and how, with its log tail.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%v); the end of %s:\n%s", p.name, p.err, p.logPath, tail(p.logPath, 20))
}

// stop sends SIGTERM, waits for the exit until ctx ends, then sends
// SIGKILL, and removes the pid record.
func (p *process) stop(ctx context.Context) {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-ctx.Done():
			p.log.Warn("process did not stop after SIGTERM in time: killing it", "process", p.name)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	os.Remove(p.pidPath)
}

// writePidRecord writes "<pid> <start time>" to path.
func writePidRecord(path string, pid int) error {
	start, err := processStartTime(pid)
	if err != nil {
		return fmt.Errorf("cluster: record pid %d: %w", pid, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d %d\n", pid, start), 0o644); err != nil {
		return fmt.Errorf("cluster: record pid %d: %w", pid, err)
	}
	return nil
}

// processStartTime is field 22 of /proc/<pid>/stat: the process's start
// time in clock ticks since boot, which tells it apart from a later process
// that reuses its pid.
func processStartTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat returns the start time and the state letter (R, S, Z, ...) of
// pid from /proc/<pid>/stat.
func procStat(pid int) (uint64, string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0], err
}

// pidRecord is one recorded process.
type pidRecord struct {
	name  string
	pid   int
	start uint64
}

// alive reports whether the recorded process still runs: its pid exists
// with the recorded start time and is not a zombie (dead, waiting for its
// parent to reap it).
func (r pidRecord) alive() bool {
	st, state, err := procStat(r.pid)
	return err == nil && st == r.start && state != "Z" && state != "X"
}

// readPidRecord reads a record written by writePidRecord.
func readPidRecord(path string) (pidRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, err
	}
	r := pidRecord{name: strings.TrimSuffix(filepath.Base(path), ".pid")}
	if _, err := fmt.Sscanf(string(b), "%d %d", &r.pid, &r.start); err != nil || r.pid <= 0 {
		return pidRecord{}, fmt.Errorf("cluster: %s is not a pid record (%q)", path, b)
	}
	return r, nil
}

// readPidRecords reads every record in dir/pids; unreadable ones are
// skipped (with Down they are removed, since nothing can be done with them).
func readPidRecords(dir string) ([]pidRecord, []string) {
	var recs []pidRecord
	var bad []string
	paths, _ := filepath.Glob(filepath.Join(dir, pidsDir, "*.pid"))
	for _, path := range paths {
		r, err := readPidRecord(path)
		if err != nil {
			bad = append(bad, path)
			continue
		}
		recs = append(recs, r)
	}
	return recs, bad
}

// killRecorded stops every process recorded in dir/pids that still runs:
// SIGTERM, up to grace to exit, then SIGKILL. It removes the records.
func killRecorded(dir string, grace time.Duration) error {
	recs, bad := readPidRecords(dir)
	for _, path := range bad {
		os.Remove(path)
	}
	var live []pidRecord
	for _, r := range recs {
		if r.alive() {
			_ = syscall.Kill(r.pid, syscall.SIGTERM)
			live = append(live, r)
		}
	}
	deadline := time.Now().Add(grace)
	for _, r := range live {
		for r.alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if r.alive() {
			_ = syscall.Kill(r.pid, syscall.SIGKILL)
		}
	}
	var errs []error
	for _, r := range live {
		for i := 0; r.alive() && i < 100; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if r.alive() {
			errs = append(errs, fmt.Errorf("cluster: %s (pid %d) survived SIGKILL", r.name, r.pid))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, r := range recs {
		os.Remove(filepath.Join(dir, pidsDir, r.name+".pid"))
	}
	return nil
}

// tail returns the last n lines of the file at path (or why it cannot).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// RecordProcess writes a pid record of pid to path, as the cluster does for
// its processes: "<pid> <start time>", so that RecordedProcess can tell it
// apart from a later process with the same pid.
func RecordProcess(path string, pid int) error { return writePidRecord(path, pid) }

// RecordedProcess reads a record RecordProcess wrote and reports its pid and
// whether that process still runs. A missing record is (0, false, nil).
func RecordedProcess(path string) (pid int, alive bool, err error) {
	r, err := readPidRecord(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return r.pid, r.alive(), nil
}
