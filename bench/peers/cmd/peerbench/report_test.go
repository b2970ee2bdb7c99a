package main

import (
	"strings"
	"testing"
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
	for _, want := range []string{
		"| passthrough | caddy | n/a: no layer4 |",
		"| h2 | edgeway | failed: exited |",
		"**behind**: 25% fewer req/s",
		"| h2 | - | - | - | - | - | - | not measured |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
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
	s, tot, ok := cpuTimes()
	if !ok || tot == 0 || s > tot {
		t.Fatalf("cpuTimes from /proc/stat: steal %d of %d (ok %v)", s, tot, ok)
	}
	if got := stealShare(10, 1000, true, 60, 1200, true); got != 0.25 {
		t.Errorf("50 stolen of 200 ticks: %v, want 0.25", got)
	}
	if got := stealShare(10, 1000, false, 60, 1200, true); got != -1 {
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
