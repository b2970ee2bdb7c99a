package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// runRecord is one measured run of one scenario against one target.
type runRecord struct {
	Scenario string     `json:"scenario"`
	Target   string     `json:"target"`
	Round    int        `json:"round"`
	Result   loadResult `json:"result"`
	// ProxyCPU is the proxy's CPU time during the run over its wall time:
	// 1.0 is the whole of its core. Zero for the baseline.
	ProxyCPU float64 `json:"proxy_cpu"`
	// ProxySwitches is how often the proxy's threads were switched out
	// (waiting or preempted) per request during the run (absent: not
	// known, or results from before it was recorded).
	ProxySwitches *float64 `json:"proxy_switches_per_request,omitempty"`
	// ProxyWakes is how many wake-ups of sleeping processes (the load
	// generator, the backend, its own threads) the proxy's threads caused
	// per request during the run (wakes.go; absent: not known).
	ProxyWakes *float64 `json:"proxy_wakes_per_request,omitempty"`
	// AcceptQueue is the mean number of connections that waited in the
	// listen socket's accept queue of the port under load, taken by the
	// kernel but not yet by the proxy (acceptq.go; absent: not known).
	AcceptQueue *float64 `json:"accept_queue,omitempty"`
	// NewConn is what the new-connection probe measured beside the load
	// (connprobe.go; absent: not probed).
	NewConn *connProbeResult `json:"new_conn,omitempty"`
	// LoadGenCPU and BackendCPU are the load generator's and the
	// backend's CPU time per request in the run, in microseconds: what
	// the load core paid for each request behind this target. Where that
	// core is the limit, they are why one target got fewer requests a
	// second than another (absent: not known, or results from before
	// they were recorded).
	LoadGenCPU *float64 `json:"load_generator_us_per_request,omitempty"`
	BackendCPU *float64 `json:"backend_us_per_request,omitempty"`
	RSSKiB     int64    `json:"rss_kib,omitempty"`
	AnonKiB    int64    `json:"rss_anon_kib,omitempty"`
	PeakKiB    int64    `json:"peak_rss_kib,omitempty"`
	Affinity   string   `json:"affinity,omitempty"`
	// SplitB is the share of requests backend b got (the split scenario).
	SplitB *float64 `json:"split_b,omitempty"`
	Raw    string   `json:"raw,omitempty"`
	Load   string   `json:"load_average"`
	// Steal is the share of the machine's CPU time the hypervisor stole
	// during the measured run (-1: not known).
	Steal float64 `json:"steal"`
	// LoadCoreBusy is how busy the load generator's and backend's CPU was
	// during the measured run, of the time it ran this guest (-1: not
	// known; absent in results from before it was recorded).
	LoadCoreBusy *float64 `json:"load_core_busy,omitempty"`
	// StealRetries is how many measured runs of this round were thrown
	// away because the host stole more than -max-steal of the CPU; the
	// record is the attempt with the least steal.
	StealRetries int    `json:"steal_retries,omitempty"`
	Skipped      string `json:"skipped,omitempty"`
	Error        string `json:"error,omitempty"`
}

// measure runs one scenario against one target: a warm-up, then the
// measured run with the proxy's CPU time and RSS read around it. A run
// during which the host stole more than -max-steal of the machine's CPU is
// repeated, up to -steal-retries times: the pinned proxy did not get its
// core, and its figures would say more about the host than about it. The
// attempt with the least steal is kept, and the record says how many were
// thrown away.
func (h *harness) measure(ctx context.Context, s scenario, t *target, round int) {
	if why, skip := t.Skip[s.Name]; skip {
		if round == 0 {
			h.records = append(h.records, runRecord{Scenario: s.Name, Target: t.Name, Round: round, Load: loadAverage(), Skipped: why})
		}
		return
	}
	rawPath := filepath.Join("raw", s.Name, fmt.Sprintf("%s-r%d.txt", t.Name, round+1))
	run := loadRun{Scenario: s, URL: s.URL(t.Ports), CPU: h.opts.loadCPU,
		LogFile: filepath.Join(h.workDir, "h2load-requests.log")}
	if h.opts.warmup >= time.Second {
		warm := run
		warm.Duration = h.opts.warmup
		_, _, _ = warm.run(ctx)
	}
	run.Duration = h.opts.duration
	var rec runRecord
	var raw string
	for attempt := 0; ; attempt++ {
		r, text := h.measuredRun(ctx, s, t, round, run)
		if attempt == 0 || keepAttempt(r, rec) {
			rec, raw = r, text
		}
		rec.StealRetries = attempt
		if !h.stealTooHigh(r) || attempt >= h.opts.stealRetries || ctx.Err() != nil {
			break
		}
		fmt.Printf("  %-12s %-20s round %d: the host stole %s of the CPU; measuring again\n", s.Name, t.Name, round+1, percent(r.Steal))
	}
	rec.Raw = rawPath
	if err := os.MkdirAll(filepath.Join(h.resDir, "raw", s.Name), 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(h.resDir, rawPath), []byte(raw), 0o644)
	}
	h.records = append(h.records, rec)
	res := rec.Result
	status := fmt.Sprintf("%9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  proxy CPU %.2f  load core %s  RSS %6.1f MiB  errors %d  steal %s",
		res.RPS, res.P50ms, res.P99ms, rec.ProxyCPU, percent(derefOr(rec.LoadCoreBusy, -1)), float64(rec.RSSKiB)/1024, res.Errors, percent(rec.Steal))
	if rec.Error != "" {
		status = "ERROR " + rec.Error
	}
	fmt.Printf("  %-12s %-20s round %d: %s\n", s.Name, t.Name, round+1, status)
}

// stealTooHigh reports whether a run is to be measured again for the
// host's steal (-max-steal 0 never repeats; an unknown steal is kept).
func (h *harness) stealTooHigh(r runRecord) bool {
	return h.opts.maxSteal > 0 && r.Steal > h.opts.maxSteal && r.Error == ""
}

// keepAttempt reports whether a repeated run r replaces the one kept so
// far: it failed less, or as well with less steal.
func keepAttempt(r, kept runRecord) bool {
	if (r.Error == "") != (kept.Error == "") {
		return r.Error == ""
	}
	return r.Steal >= 0 && (kept.Steal < 0 || r.Steal < kept.Steal)
}

func derefOr(v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	return *v
}

// measuredRun is one measured run: the load, with the proxy's usage,
// wake-ups, accept queue and the machine's steal read around it. It
// returns the record and the raw output with its footer.
func (h *harness) measuredRun(ctx context.Context, s scenario, t *target, round int, run loadRun) (runRecord, string) {
	rec := runRecord{Scenario: s.Name, Target: t.Name, Round: round, Load: loadAverage()}
	var before usage
	var wakes *wakeCounter
	if t.proc != nil {
		before, _ = readUsage(t.proc.pid())
		wakes = startWakeCount(t.proc.pid(), h.wakeDir())
	}
	countsBefore, _ := backendCounts(h.backend.Stats)
	backendBefore, backendErr := h.backendCPU()
	c0 := readCPU(h.opts.loadCPU)
	queue := startAcceptQueueSample(run.URL)
	probe := h.startProbe(s, run)
	start := time.Now()
	raw, res, err := run.run(ctx)
	wall := time.Since(start)
	c1 := readCPU(h.opts.loadCPU)
	backendAfter, backendErr2 := h.backendCPU()
	if res.Requests > 0 {
		if res.CPUSeconds > 0 {
			us := res.CPUSeconds * 1e6 / float64(res.Requests)
			rec.LoadGenCPU = &us
		}
		if backendErr == nil && backendErr2 == nil && backendAfter >= backendBefore {
			us := float64((backendAfter - backendBefore).Microseconds()) / float64(res.Requests)
			rec.BackendCPU = &us
		}
	}
	if q, ok := queue.stop(); ok {
		rec.AcceptQueue = &q
	}
	if probe != nil {
		if pr, perr := probe.wait(); perr == nil {
			rec.NewConn = &pr
		} else {
			fmt.Printf("  %-12s %-20s round %d: the new-connection probe failed: %v\n", s.Name, t.Name, round+1, perr)
		}
	}
	if n, ok := wakes.stop(); ok && res.Requests > 0 {
		wk := float64(n) / float64(res.Requests)
		rec.ProxyWakes = &wk
	}
	rec.Steal = stealShare(c0.machine, c0.machineOK, c1.machine, c1.machineOK)
	busy := busyShare(c0.load, c0.loadOK, c1.load, c1.loadOK)
	rec.LoadCoreBusy = &busy
	rec.Result = res
	if err != nil {
		rec.Error = err.Error()
	}
	if t.proc != nil {
		if after, uerr := readUsage(t.proc.pid()); uerr == nil {
			rec.ProxyCPU = (after.CPU - before.CPU).Seconds() / wall.Seconds()
			if res.Requests > 0 && before.Switches > 0 && after.Switches >= before.Switches {
				sw := float64(after.Switches-before.Switches) / float64(res.Requests)
				rec.ProxySwitches = &sw
			}
			rec.RSSKiB, rec.AnonKiB, rec.PeakKiB, rec.Affinity = after.RSSKiB, after.AnonKiB, after.PeakKiB, after.Affinity
		} else if rec.Error == "" {
			rec.Error = fmt.Sprintf("%s: reading its usage: %v", t.Name, uerr)
		}
		if aerr := t.proc.alive(); aerr != nil {
			rec.Error = aerr.Error()
		}
	}
	if s.Name == "split" && t.Name != baselineName {
		if countsAfter, cerr := backendCounts(h.backend.Stats); cerr == nil && countsBefore != nil {
			a := float64(countsAfter["a"] - countsBefore["a"])
			b := float64(countsAfter["b"] - countsBefore["b"])
			if a+b > 0 {
				share := b / (a + b)
				rec.SplitB = &share
			}
		}
	}
	footer := fmt.Sprintf("\n# proxy CPU %.3f cores, context switches %s per request, wake-ups caused %s per request, accept queue %s connections, RSS %d KiB (anonymous %d KiB, peak %d KiB), pinned to CPUs %s, load average at start %s, CPU stolen by the host %s, load core busy %s, CPU per request: load generator %s µs, backend %s µs\n",
		rec.ProxyCPU, perRequest(rec.ProxySwitches), perRequest(rec.ProxyWakes), queued(rec.AcceptQueue), rec.RSSKiB, rec.AnonKiB, rec.PeakKiB, rec.Affinity, rec.Load, percent(rec.Steal), percent(busy),
		perRequest(rec.LoadGenCPU), perRequest(rec.BackendCPU))
	if p := rec.NewConn; p != nil {
		footer += fmt.Sprintf("# new-connection probe: %d connections, %d failed, connect to response p50 %.3f ms p99 %.3f ms, connect to handshake done p50 %.3f ms p99 %.3f ms\n",
			p.Count, p.Errors, p.P50ms, p.P99ms, p.HandshakeP50, p.HandshakeP99)
	}
	return rec, raw + footer
}

// backendCPU is the backend's CPU time so far (an error when the harness
// started none: tests that drive measuredRun without one).
func (h *harness) backendCPU() (time.Duration, error) {
	if h.backendProc == nil {
		return 0, fmt.Errorf("no backend process")
	}
	return cpuTime(h.backendProc.pid())
}

// connProbeEvery is the new-connection probe's pace: 50 connections a
// second, under 2% of the scenario's.
const connProbeEvery = 20 * time.Millisecond

// startProbe starts the new-connection probe for a measured run of a
// scenario that has one: from half a second into the load to half a
// second before its end. nil: none (or it could not start, which is said).
func (h *harness) startProbe(s scenario, run loadRun) *connProbeRun {
	if !s.ProbeNewConns || run.Duration < 2*time.Second {
		return nil
	}
	p, err := startConnProbe(h.opts.loadCPU, connProbe{URL: run.URL, CAFile: h.cert.Cert,
		Every: connProbeEvery, Delay: 500 * time.Millisecond, For: run.Duration - time.Second})
	if err != nil {
		fmt.Printf("peerbench: the new-connection probe did not start: %v\n", err)
		return nil
	}
	return p
}

// routesScenario is the HTTP/1.1 keep-alive load against edgeway with 1000
// HTTPRoutes loaded, to the last route's host.
func routesScenario() scenario {
	s, _ := scenarioByName("http1")
	s.Name = "http1-1000-routes"
	s.Title = fmt.Sprintf("HTTP/1.1 keep-alive, edgeway with %d HTTPRoutes (Host of the last)", routeCount)
	s.Host = routeHost(routeCount - 1)
	return s
}

// measureRoutes starts edgeway with 1000 more HTTPRoutes (one hostname
// each), reads its RSS idle once they are all served, runs the HTTP/1.1
// load to the last route, and stops it: edgeway standalone (controller and
// data plane in one process), then, when peer-xds and edgeway-dataplane
// were built, the data plane alone.
func (h *harness) measureRoutes(ctx context.Context) error {
	idle, err := h.measureRoutesOf(ctx, edgeway1kName)
	if err != nil {
		return err
	}
	h.env.RoutesIdleKiB = idle
	for _, b := range []string{"peer-xds", "edgeway-dataplane"} {
		if _, err := os.Stat(filepath.Join(h.opts.binDir, b)); err != nil {
			fmt.Printf("peerbench: no %s in the bin directory: the data plane alone is not measured\n", b)
			return nil
		}
	}
	idle, err = h.measureRoutesOf(ctx, edgewayDP1kName)
	h.env.DataplaneRoutesIdleKiB = idle
	return err
}

func (h *harness) measureRoutesOf(ctx context.Context, name string) (idleKiB int64, err error) {
	t, err := h.startProxy(name, proxyNumber[name], routeCount)
	if err != nil {
		return 0, err
	}
	defer t.proc.stop()
	s := routesScenario()
	start := time.Now()
	for _, host := range []string{routeHost(0), routeHost(routeCount - 1)} {
		if err := waitReady(t.proc, []probe{{Name: s.Name, URL: s.URL(t.Ports), Host: host}}, h.opts.bodySize, 2*time.Minute); err != nil {
			return 0, fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	ready := time.Since(start)
	time.Sleep(2 * time.Second) // let the startup garbage be collected
	idle, err := readUsage(t.proc.pid())
	if err != nil {
		return 0, err
	}
	h.env.Settings[name] = fmt.Sprintf("all routes served %.1f s after start; idle RSS %.1f MiB (anonymous %.1f MiB)",
		ready.Seconds(), float64(idle.RSSKiB)/1024, float64(idle.AnonKiB)/1024)
	for round := range h.opts.rounds {
		h.measure(ctx, s, t, round)
	}
	return idle.RSSKiB, nil
}
