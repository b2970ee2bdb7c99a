package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/bench/peers/runtimelat"
)

// profileRecord is one scenario of the profiling pass.
type profileRecord struct {
	Scenario string  `json:"scenario"`
	RPS      float64 `json:"rps"`
	CPU      string  `json:"cpu_profile"`
	Allocs   string  `json:"alloc_profile"`
	CPUTop   string  `json:"cpu_top"`
	AllocTop string  `json:"alloc_top"`
	// Runtime is the Go runtime's side of the latency over the same
	// period: goroutines' runnable waits, garbage collections.
	Runtime *runtimelat.Report `json:"runtime,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// profileEdgeway runs every scenario once more against edgeway built with
// the pprof overlay, pinned the same way, taking a CPU profile and an
// allocation profile (the allocations during the run) of the measured
// period, then the heap in use; and the same with 1000 routes loaded.
// Profiling costs a few per cent, which is why these runs are not the
// measured ones.
func (h *harness) profileEdgeway(ctx context.Context) error {
	var selected []scenario
	for _, name := range h.opts.scenarios {
		s, _ := scenarioByName(name)
		selected = append(selected, s)
	}
	if err := h.profilePass(ctx, pprofName, 0, selected, "heap"); err != nil {
		return err
	}
	if h.opts.routes {
		return h.profilePass(ctx, pprofRoutesName, routeCount, []scenario{routesScenario()}, "heap-1000-routes")
	}
	return nil
}

const (
	pprofName       = "edgeway-pprof"
	pprofRoutesName = "edgeway-pprof-1000-routes"
)

func (h *harness) profilePass(ctx context.Context, name string, routes int, ss []scenario, heapName string) error {
	t, err := h.startProxy(name, proxyNumber[name], routes)
	if err != nil {
		return err
	}
	defer t.proc.stop()
	var probes []probe
	for _, s := range ss {
		probes = append(probes, probe{Name: s.Name, URL: s.URL(t.Ports), Host: s.Host, HTTP2: s.Tool == "h2load"})
	}
	if err := waitReady(t.proc, probes, h.opts.bodySize, 2*time.Minute); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dir := filepath.Join(h.resDir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Printf("peerbench: profiling %s\n", name)
	secs := int(h.opts.duration / time.Second)
	base := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", t.Ports.Pprof)
	for _, s := range ss {
		rec := profileRecord{Scenario: s.Name,
			CPU: filepath.Join("profiles", s.Name+".cpu.pb.gz"), Allocs: filepath.Join("profiles", s.Name+".allocs.pb.gz")}
		run := loadRun{Scenario: s, URL: s.URL(t.Ports), CPU: h.opts.loadCPU, LogFile: filepath.Join(h.workDir, "h2load-requests.log")}
		if h.opts.warmup >= time.Second {
			warm := run
			warm.Duration = h.opts.warmup
			_, _, _ = warm.run(ctx)
		}
		// The profiles cover the load's duration: both start with it. The
		// heap profile (and so the allocation delta) is as of the last
		// garbage collection: one now keeps what came before out of it.
		_ = fetch(base+"heap?gc=1", filepath.Join(h.workDir, "heap-before.pb.gz"))
		run.Duration = h.opts.duration
		var wg sync.WaitGroup
		var cpuErr, allocErr, rtErr error
		wg.Go(func() { cpuErr = fetch(base+fmt.Sprintf("profile?seconds=%d", secs), filepath.Join(h.resDir, rec.CPU)) })
		wg.Go(func() {
			allocErr = fetch(base+fmt.Sprintf("allocs?seconds=%d", secs), filepath.Join(h.resDir, rec.Allocs))
		})
		wg.Go(func() {
			var rt runtimelat.Report
			if rtErr = fetchJSON(fmt.Sprintf("http://127.0.0.1:%d/debug/runtime-latency?seconds=%d", t.Ports.Pprof, secs), &rt); rtErr == nil {
				rec.Runtime = &rt
			}
		})
		_, res, err := run.run(ctx)
		wg.Wait()
		rec.RPS = res.RPS
		for _, e := range []error{err, cpuErr, allocErr, rtErr} {
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
		fmt.Printf("  %-12s %s: %.0f req/s %s\n", s.Name, name, rec.RPS, rec.Error)
		h.profiles = append(h.profiles, rec)
	}
	// The heap in use after the load (after a GC), next to the RSS: what
	// the memory holds.
	heap := filepath.Join("profiles", heapName+".pb.gz")
	if err := fetch(base+"heap?gc=1", filepath.Join(h.resDir, heap)); err != nil {
		return fmt.Errorf("%s: heap profile: %w", name, err)
	}
	h.pprofTop(filepath.Join(h.resDir, heap), filepath.Join(h.resDir, "profiles", heapName+".top.txt"), "-sample_index=inuse_space")
	if u, err := readUsage(t.proc.pid()); err == nil {
		h.env.Settings[name+" RSS at its heap profile"] = fmt.Sprintf("%.1f MiB", float64(u.RSSKiB)/1024)
	}
	return nil
}

// fetchJSON decodes the JSON answer of a GET into v.
func fetchJSON(url string, v any) error {
	body, err := get(url)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// fetch writes the answer of a GET to path.
func fetch(url, path string) error {
	body, err := get(url)
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// get is the body of a 200 answer to a GET of the pprof endpoint (a
// profile takes as long as its seconds); any other status is an error with
// what the endpoint said.
func get(url string) (io.ReadCloser, error) {
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	return resp.Body, nil
}

// pprofTop writes `go tool pprof -top` of a profile, the 40 heaviest
// functions by their own cost, then by cumulative cost.
func (h *harness) pprofTop(profile, out string, extra ...string) {
	var text strings.Builder
	for _, order := range [][]string{{"-top"}, {"-top", "-cum"}} {
		argv := append([]string{"go", "tool", "pprof", "-nodecount=40"}, order...)
		argv = append(append(argv, extra...), profile)
		res, err := runQuiet(argv, nil)
		if err != nil {
			res = fmt.Sprintf("go tool pprof failed: %v\n%s", err, res)
		}
		fmt.Fprintf(&text, "$ %s\n%s\n", strings.Join(argv[:len(argv)-1], " "), res)
	}
	_ = os.WriteFile(out, []byte(text.String()), 0o644)
}
