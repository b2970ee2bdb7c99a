package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Neither the controller nor the data plane serves a pprof endpoint, so
// with BENCH_SCALE_PERF=1 the bench profiles them from the outside: `perf
// record` of each process (a Go binary keeps its symbols and frame
// pointers, so perf resolves Go functions and call chains) during each
// size's propagation samples, and `perf report` of it into
// perf-controller-<routes>.txt and perf-dataplane-<routes>.txt. The data
// plane's profile includes serving the bench's polls.

// perfRecording is a running `perf record`.
type perfRecording struct {
	cmd  *exec.Cmd
	data string
	out  string
}

// startPerf starts sampling pid's stacks at 499 Hz into a temporary file;
// stop writes the report to out.
func startPerf(pid int, out string) (*perfRecording, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("BENCH_SCALE_PERF=1 needs perf (Debian: apt-get install linux-perf): %w", err)
	}
	f, err := os.CreateTemp("", "bench-scale-perf-*.data")
	if err != nil {
		return nil, err
	}
	f.Close()
	cmd := exec.Command(perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", f.Name())
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("perf record: %w", err)
	}
	return &perfRecording{cmd: cmd, data: f.Name(), out: out}, nil
}

// stop ends the recording (perf writes its file on SIGINT) and writes the
// report: functions by the CPU spent in them and under them (--children),
// then by the CPU spent in them alone.
func (p *perfRecording) stop(ctx context.Context) error {
	defer os.Remove(p.data)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("perf record did not stop within 30 s of SIGINT")
	}
	var report bytes.Buffer
	for _, mode := range []string{"--children", "--no-children"} {
		fmt.Fprintf(&report, "==== perf report %s (percent of the process's samples)\n", mode)
		cmd := exec.CommandContext(ctx, "perf", "report", "-i", p.data, "--stdio", mode, "-g", "none", "--percent-limit", "1", "--sort", "symbol")
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		// perf pads the symbol column and appends empty IPC columns ("-  -").
		for line := range strings.SplitSeq(string(out), "\n") {
			report.WriteString(strings.TrimRight(line, " -") + "\n")
		}
	}
	return os.WriteFile(filepath.Clean(p.out), report.Bytes(), 0o644)
}
