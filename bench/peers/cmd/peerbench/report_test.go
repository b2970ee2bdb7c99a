package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bench/peers/runtimelat"
)

func rec(s, t string, round int, rps, p99, cpu float64) runRecord {
	return runRecord{Scenario: s, Target: t, Round: round, ProxyCPU: cpu,
		Result: loadResult{RPS: rps, P50ms: p99 / 4, P99ms: p99, Requests: int64(rps)}}
}

func TestAggregateAndVerdicts(t *testing.T) {
	records := []runRecord{
		rec("http1", baselineName, 0, 50000, 1, 0),
		rec("http1", "nginx", 0, 20000, 4, 1),
		rec("http1", "nginx", 1, 30000, 2, 1),
		rec("http1", "nginx", 2, 25000, 3, 1),
		rec("http1", "haproxy", 0, 22000, 3, 1),
		rec("http1", edgewayName, 0, 26000, 2.5, 0.5),
		{Scenario: "passthrough", Target: "caddy", Skipped: "no layer4"},
		rec("passthrough", "nginx", 0, 40000, 2, 1),
		rec("passthrough", edgewayName, 0, 30000, 1, 1),
		{Scenario: "h2", Target: edgewayName, Error: "exited"},
		rec("h2", "nginx", 0, 10000, 2, 1),
	}
	peers := map[string]bool{"nginx": true, "haproxy": true, "caddy": true}
	cells := aggregate(records, peers)
	var nginx cell
	for _, c := range cells {
		if c.Scenario == "http1" && c.Target == "nginx" {
			nginx = c
		}
	}
	if nginx.Runs != 3 || nginx.RPS != 25000 || nginx.P99 != 3 {
		t.Errorf("nginx http1: %+v, want 3 runs, median 25000 req/s, p99 3", nginx)
	}
	vs := verdicts(cells, []string{"http1", "passthrough", "h2"})
	if len(vs) != 3 {
		t.Fatalf("%d verdicts, want 3", len(vs))
	}
	http1 := vs[0]
	if http1.Best.Target != "nginx" || !http1.Met || http1.RPSRatio != 26000.0/25000 {
		t.Errorf("http1: best %s, met %v, ratio %v; want nginx, met, 1.04", http1.Best.Target, http1.Met, http1.RPSRatio)
	}
	if http1.PerCPURatio != (26000/0.5)/25000.0 {
		t.Errorf("http1 req/CPU-s ratio %v, want edgeway's 52000 over nginx's 25000", http1.PerCPURatio)
	}
	if pass := vs[1]; pass.Met || pass.Best.Target != "nginx" || pass.RPSRatio != 0.75 {
		t.Errorf("passthrough: %+v, want behind nginx at 0.75", pass)
	}
	if h2 := vs[2]; h2.Have {
		t.Errorf("h2: edgeway failed, yet it has a verdict: %+v", h2)
	}
	md := summary(environment{Started: "now"}, cells, vs, nil)
	summaryHas(t, md,
		"| passthrough | caddy | n/a: no layer4 |",
		"| h2 | edgeway | failed: exited |",
		"**behind**: 25% fewer req/s",
		"| h2 | - | - | - | - | - | - | - | not measured |",
	)
}

// TestRoundRatios: the verdict pairs edgeway's rounds with the best
// peer's, round by round, and the summary shows each round's ratios and
// how many rounds met the target, next to the medians' verdict.
func TestRoundRatios(t *testing.T) {
	records := []runRecord{
		rec("http1", "nginx", 0, 20000, 4, 1),
		rec("http1", edgewayName, 0, 22000, 2, 1),
		rec("http1", "nginx", 1, 30000, 2, 1),
		rec("http1", edgewayName, 1, 24000, 3, 1),
		rec("http1", "nginx", 2, 25000, 3, 1),
		rec("http1", edgewayName, 2, 25000, 3, 1),
		rec("http1", edgewayName, 3, 25000, 3, 1), // no peer in this round: not paired
	}
	cells := aggregate(records, map[string]bool{"nginx": true})
	vs := verdicts(cells, []string{"http1"})
	want := []roundRatio{{0, 1.1, 0.5}, {1, 0.8, 1.5}, {2, 1, 1}}
	if got := vs[0].Rounds; !slices.Equal(got, want) {
		t.Fatalf("round ratios %+v, want %+v", got, want)
	}
	md := summary(environment{Started: "now"}, cells, vs, nil)
	summaryHas(t, md, "| 1.10, 0.80, 1.00 (p99 0.50, 1.50, 1.00); met in 2 of 3 |")
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestStealIsRecorded: the machine's steal counter is read from /proc/stat,
// its share over a round computed, and the summary shows a target's worst
// round, so a round the host disturbed can be told from a slow proxy.
func TestStealIsRecorded(t *testing.T) {
	r := readCPU(0)
	if s, tot, ok := r.machine.steal, r.machine.total, r.machineOK; !ok || tot == 0 || s > tot {
		t.Fatalf("the machine's line of /proc/stat: steal %d of %d (ok %v)", s, tot, ok)
	}
	before, after := cpuTicks{steal: 10, total: 1000}, cpuTicks{steal: 60, total: 1200}
	if got := stealShare(before, true, after, true); got != 0.25 {
		t.Errorf("50 stolen of 200 ticks: %v, want 0.25", got)
	}
	if got := stealShare(before, false, after, true); got != -1 {
		t.Errorf("a failed reading: %v, want -1 (unknown)", got)
	}
	a, b := rec("http1", "nginx", 0, 20000, 4, 1), rec("http1", "nginx", 1, 21000, 4, 1)
	a.Steal, b.Steal = 0.02, 0.375
	cells := aggregate([]runRecord{a, b}, map[string]bool{"nginx": true})
	if len(cells) != 1 || cells[0].StealMax != 0.375 {
		t.Fatalf("cells %+v, want one with the worst round's steal 0.375", cells)
	}
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"http1"}), nil)
	if !strings.Contains(md, " | 37.5% |") {
		t.Errorf("summary lacks the steal column's 37.5%%:\n%s", md)
	}
}

// TestLoadCoreIsRecorded: how busy the load generator's and backend's CPU
// was is read from its line of /proc/stat, and a row where that core was
// saturated while the proxy was not is marked as limited by it, in the
// results table and in the verdict, so an h2 row where every proxy left
// part of its core unused is not read as the proxy's cost.
func TestLoadCoreIsRecorded(t *testing.T) {
	const stat = "cpu  100 0 50 800 10 0 5 35 0 0\n" +
		"cpu0 40 0 20 400 5 0 2 10 0 0\n" +
		"cpu1 60 0 30 400 5 0 3 25 0 0\n"
	c1, ok := procStatCPU(stat, "cpu1")
	if !ok || c1.busy != 93 || c1.steal != 25 || c1.total != 523 {
		t.Fatalf("cpu1 of the fixture: %+v (ok %v), want busy 93 (user, system, softirq), steal 25, total 523", c1, ok)
	}
	if _, ok := procStatCPU(stat, "cpu7"); ok {
		t.Error("a CPU the machine does not have was found")
	}
	if !readCPU(0).loadOK {
		t.Error("cpu0 of this machine's /proc/stat was not read")
	}
	// 90 busy ticks of 100 the guest ran; the 20 stolen do not count.
	later := cpuTicks{busy: c1.busy + 90, steal: c1.steal + 20, total: c1.total + 120}
	if got := busyShare(c1, true, later, true); got != 0.9 {
		t.Errorf("busy 90 of 100 ticks run: %v, want 0.9", got)
	}
	if got := busyShare(c1, false, later, true); got != -1 {
		t.Errorf("a failed reading: %v, want -1 (unknown)", got)
	}

	share := func(v float64) *float64 { return &v }
	peer, ew := rec("h2", "haproxy", 0, 30000, 9, 0.85), rec("h2", edgewayName, 0, 24000, 9, 0.86)
	peer.LoadCoreBusy, ew.LoadCoreBusy = share(0.99), share(0.98)
	old := rec("http1", "nginx", 0, 25000, 5, 0.97) // results.json from before: no field
	cells := aggregate([]runRecord{peer, ew, old}, map[string]bool{"haproxy": true, "nginx": true})
	if cells[1].LoadCore != 0.98 || !cells[1].loadBound() {
		t.Fatalf("edgeway's cell %+v: want load core 0.98, bound by it", cells[1])
	}
	if cells[2].LoadCore != -1 || cells[2].loadBound() {
		t.Fatalf("a record without the field: %+v, want unknown (-1), not bound", cells[2])
	}
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"h2", "http1"}), nil)
	summaryHas(t, md, " | 98.0% * |", " | ? |", "the load core was the limit: 98.0% busy, edgeway's CPU 0.86")
}

// TestProfilesShowTheRuntimeLatency: the profiling pass's runtime report
// (runnable waits, garbage collections) is in the profiles table, and a
// scenario without one (an older results.json, a failed fetch) shows
// dashes.
func TestProfilesShowTheRuntimeLatency(t *testing.T) {
	rt := &runtimelat.Report{
		RunnableWait: runtimelat.Distribution{Samples: 900, P50ms: 0.524, P99ms: 4.194},
		GCPauses:     runtimelat.Distribution{Samples: 40, P99ms: 0.131},
		GCCycles:     19, GCCPUShare: 0.031,
	}
	profiles := []profileRecord{
		{Scenario: "http1", RPS: 24000, CPUTop: "profiles/http1.cpu.top.txt", AllocTop: "profiles/http1.allocs.top.txt", Runtime: rt},
		{Scenario: "tls", RPS: 20000, CPUTop: "profiles/tls.cpu.top.txt", AllocTop: "profiles/tls.allocs.top.txt"},
	}
	md := summary(environment{Started: "now"}, nil, nil, profiles)
	summaryHas(t, md,
		"| http1 | 24000 | 0.524 / 4.194 | 19 | 3.1% | 0.131 | profiles/http1.cpu.top.txt |",
		"| tls | 20000 | - | - | - | - | profiles/tls.cpu.top.txt |",
	)
}

// TestProxySwitchesAreRecorded: the proxy's context switches are summed
// over its threads (the process's own status file counts only the first),
// and the results table shows their median per request, "?" for a record
// from before they were recorded.
func TestProxySwitchesAreRecorded(t *testing.T) {
	const status = "Name:\tnginx\nvoluntary_ctxt_switches:\t150\nnonvoluntary_ctxt_switches:\t7\n"
	if got := contextSwitches(status); got != 157 {
		t.Fatalf("contextSwitches of the fixture = %d, want 157", got)
	}
	// This test's own process: its threads have been switched out, the
	// Go runtime's among them, more than its first thread alone.
	all, err := threadSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if all <= 0 || all < contextSwitches(string(first)) {
		t.Fatalf("threadSwitches = %d, the first thread alone %d: want more than 0 and at least the first's", all, contextSwitches(string(first)))
	}
	if u, err := readUsage(os.Getpid()); err != nil || u.Switches <= 0 {
		t.Fatalf("readUsage: %+v, %v; want its switches counted", u, err)
	}

	per := func(v float64) *float64 { return &v }
	r1, r2, r3 := rec("http1", edgewayName, 0, 20000, 9, 0.9), rec("http1", edgewayName, 1, 20000, 9, 0.9), rec("http1", edgewayName, 2, 20000, 9, 0.9)
	r1.ProxySwitches, r2.ProxySwitches, r3.ProxySwitches = per(0.45), per(0.05), per(0.2)
	old := rec("http1", "nginx", 0, 25000, 5, 0.97) // results.json from before: no field
	cells := aggregate([]runRecord{old, r1, r2, r3}, map[string]bool{"nginx": true})
	if cells[1].Switches != 0.2 || cells[0].Switches != -1 {
		t.Fatalf("cells' switches: nginx %v, edgeway %v; want -1 (not known) and the median 0.2", cells[0].Switches, cells[1].Switches)
	}
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"http1"}), nil)
	summaryHas(t, md, "| http1 | edgeway | 20000 | 2.250 | 9.000 | 0.90 | 22222 | 0.20 |", "| http1 | nginx | 25000 | 1.250 | 5.000 | 0.97 | 25773 | ? |")
}

// TestProbeInTheReport: the new-connection probe's rounds are aggregated
// per target (medians of the percentiles, sums of the counts), shown in a
// table of their own, and compared in the scenario's verdict.
func TestProbeInTheReport(t *testing.T) {
	probed := func(target string, round int, rps, p99, probeP99 float64) runRecord {
		r := rec("tls-newconn", target, round, rps, p99, 1)
		r.NewConn = &connProbeResult{Count: 450, Errors: round, P50ms: probeP99 / 2, P99ms: probeP99, HandshakeP50: 1, HandshakeP99: probeP99 - 1}
		return r
	}
	records := []runRecord{
		probed("nginx", 0, 3400, 9, 30),
		probed(edgewayName, 0, 3600, 13, 20),
		probed("nginx", 1, 3500, 10, 34),
		probed(edgewayName, 1, 3550, 14, 24),
		probed("nginx", 2, 3450, 9.5, 32),
		probed(edgewayName, 2, 3580, 13.5, 22),
		rec("http1", "nginx", 0, 20000, 4, 1),
		rec("http1", edgewayName, 0, 22000, 2, 1),
	}
	cells := aggregate(records, map[string]bool{"nginx": true})
	vs := verdicts(cells, []string{"tls-newconn", "http1"})
	e := vs[0].Edgeway.NewConn
	if e == nil || e.Count != 1350 || e.Errors != 3 || e.P99 != 22 || e.HandshakeP99 != 21 {
		t.Fatalf("edgeway's probe cell %+v, want 1350 connections, 3 failed, p99 22 (the median round)", e)
	}
	if vs[1].Edgeway.NewConn != nil {
		t.Errorf("http1 was not probed, yet has a probe cell")
	}
	md := summary(environment{Started: "now"}, cells, vs, nil)
	summaryHas(t, md,
		"## New connections as their client sees them (the probe)",
		"| tls-newconn | nginx | 1350 | 3 | 16.000 / 32.000 | 1.000 / 31.000 | 2.375 / 9.500 |",
		"a new connection from connect to response (the probe): p99 22.000 ms against 32.000 (0.69)",
	)
	if strings.Contains(md, "| http1 | nginx | 0 |") {
		t.Errorf("the probe table has a row for a scenario without a probe:\n%s", md)
	}
}

// TestProbePoolsTheRounds: with each connection's times kept, the probe's
// percentiles are those of all the rounds' connections together, so that
// one round's few slow connections count as they would in a longer run.
func TestProbePoolsTheRounds(t *testing.T) {
	round := func(slow int) connProbeResult {
		r := connProbeResult{Count: 100}
		for i := range 100 {
			us := int64(10_000)
			if i < slow {
				us = 50_000
			}
			r.TotalsUs, r.HandshakesUs = append(r.TotalsUs, us), append(r.HandshakesUs, us/2)
		}
		r.P99ms = 10
		if slow >= 2 {
			r.P99ms = 50
		}
		return r
	}
	c := aggregateProbes([]connProbeResult{round(0), round(0), round(4)})
	if c.Count != 300 || c.P99 != 50 || c.HandshakeP99 != 25 || c.P50 != 10 {
		t.Errorf("pooled: %+v, want 300 connections, p99 50 ms (4 of 300 slow), handshake p99 25, p50 10", c)
	}
	old := round(4)
	old.TotalsUs, old.HandshakesUs = nil, nil
	c = aggregateProbes([]connProbeResult{round(0), round(0), old})
	if c.P99 != 10 {
		t.Errorf("a round without its connections' times: p99 %v, want the median of the rounds' (10)", c.P99)
	}
}

// summaryHas fails the test for each text the summary lacks.
func summaryHas(t *testing.T, md string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}
