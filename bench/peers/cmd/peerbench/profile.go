package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profileRecord is one scenario of the profiling pass.
type profileRecord struct {
	Scenario string  `json:"scenario"`
	RPS      float64 `json:"rps"`
	CPU      string  `json:"cpu_profile"`
	Allocs   string  `json:"alloc_profile"`
	CPUTop   string  `json:"cpu_top"`
	AllocTop string  `json:"alloc_top"`
	Error    string  `json:"error,omitempty"`
}

// profileEdgeway runs every scenario once more against edgeway built with
// the pprof overlay, pinned the same way, taking a CPU profile and an
// allocation profile (the allocations during the run) of the measured
// period. Profiling costs a few per cent, which is why these runs are not
// the measured ones.
func (h *harness) profileEdgeway(ctx context.Context) error {
	t, err := h.startProxy("edgeway-pprof", proxyNumber["edgeway-pprof"], 0)
	if err != nil {
		return err
	}
	defer t.proc.stop()
	if err := waitReady(t.proc, probesFor(t.Ports, nil, ""), h.opts.bodySize, 60*time.Second); err != nil {
		return fmt.Errorf("edgeway-pprof: %w", err)
	}
	dir := filepath.Join(h.resDir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Println("peerbench: profiling edgeway (pprof build) in every scenario")
	secs := int(h.opts.duration / time.Second)
	for _, name := range h.opts.scenarios {
		s, _ := scenarioByName(name)
		rec := profileRecord{Scenario: s.Name,
			CPU: filepath.Join("profiles", s.Name+".cpu.pb.gz"), Allocs: filepath.Join("profiles", s.Name+".allocs.pb.gz")}
		run := loadRun{Scenario: s, URL: s.URL(t.Ports), CPU: h.opts.loadCPU, LogFile: filepath.Join(h.workDir, "h2load-requests.log")}
		if h.opts.warmup >= time.Second {
			warm := run
			warm.Duration = h.opts.warmup
			_, _, _ = warm.run(ctx)
		}
		// The profiles cover the load's duration: both start with it.
		run.Duration = h.opts.duration
		var wg sync.WaitGroup
		var cpuErr, allocErr error
		base := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", t.Ports.Pprof)
		wg.Go(func() { cpuErr = fetch(base+fmt.Sprintf("profile?seconds=%d", secs), filepath.Join(h.resDir, rec.CPU)) })
		wg.Go(func() {
			allocErr = fetch(base+fmt.Sprintf("allocs?seconds=%d", secs), filepath.Join(h.resDir, rec.Allocs))
		})
		_, res, err := run.run(ctx)
		wg.Wait()
		rec.RPS = res.RPS
		for _, e := range []error{err, cpuErr, allocErr} {
			if e != nil && rec.Error == "" {
				rec.Error = e.Error()
			}
		}
		if rec.Error == "" {
			rec.CPUTop = filepath.Join("profiles", s.Name+".cpu.top.txt")
			rec.AllocTop = filepath.Join("profiles", s.Name+".allocs.top.txt")
			h.pprofTop(filepath.Join(h.resDir, rec.CPU), filepath.Join(h.resDir, rec.CPUTop))
			h.pprofTop(filepath.Join(h.resDir, rec.Allocs), filepath.Join(h.resDir, rec.AllocTop), "-sample_index=alloc_space")
		}
		fmt.Printf("  %-12s edgeway-pprof: %.0f req/s %s\n", s.Name, rec.RPS, rec.Error)
		h.profiles = append(h.profiles, rec)
	}
	return nil
}

func fetch(url, path string) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop writes `go tool pprof -top` of a profile: flat and cumulative,
// the 40 heaviest functions.
func (h *harness) pprofTop(profile, out string, extra ...string) {
	argv := append([]string{"go", "tool", "pprof", "-top", "-nodecount=40"}, extra...)
	argv = append(argv, profile)
	text, err := runQuiet(argv, nil)
	if err != nil {
		text = fmt.Sprintf("go tool pprof failed: %v\n%s", err, text)
	}
	_ = os.WriteFile(out, []byte(text), 0o644)
}
