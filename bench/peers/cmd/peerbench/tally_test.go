package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// writeRun writes a run's results.json as the harness does.
func writeRun(t *testing.T, dir string, env environment, records ...runRecord) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(resultsDoc{Environment: env, Runs: records})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTallyOverRuns: the tally reads each run's results.json, computes its
// verdicts as the run's summary does, and counts by scenario the runs that
// met the target, on requests/s and on requests per CPU-second, with the
// ratios' median and range; a run without edgeway in a scenario is left
// out of that scenario's row.
func TestTallyOverRuns(t *testing.T) {
	tmp := t.TempDir()
	env := environment{Started: "2026-11-26T00:00:00Z", CPUModel: "cpu",
		Versions: map[string]string{"edgeway-dataplane": "edgeway-dataplane abc1234 (go1.26.8)"}}
	// Run a: http1 met (1.1 of nginx, p99 0.5); passthrough behind on
	// requests/s at half nginx's CPU, so met per CPU-second.
	a := writeRun(t, filepath.Join(tmp, "a"), env,
		rec("http1", "nginx", 0, 20000, 2, 1),
		rec("http1", edgewayName, 0, 22000, 1, 1),
		rec("passthrough", "nginx", 0, 40000, 2, 1),
		rec("passthrough", edgewayName, 0, 30000, 2, 0.5),
		runRecord{Scenario: routesScenario().Name, Target: edgewayDP1kName, Round: 0, ProxyCPU: 1,
			Result: loadResult{RPS: 1, P99ms: 1, Requests: 1}, RSSKiB: 50 << 10},
	)
	// Run b: http1 behind on p99 (1.5), with haproxy the best peer;
	// passthrough's edgeway failed, so b has no passthrough verdict.
	b := writeRun(t, filepath.Join(tmp, "b"), env,
		rec("http1", "nginx", 0, 20000, 2, 1),
		rec("http1", "haproxy", 0, 21000, 2, 1),
		rec("http1", edgewayName, 0, 23100, 3, 1),
		rec("passthrough", "nginx", 0, 40000, 2, 1),
		runRecord{Scenario: "passthrough", Target: edgewayName, Error: "exited"},
	)
	var runs []tallyRun
	for _, d := range []string{a, b} {
		run, err := loadTallyRun(d)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	rows := tallyRows(runs)
	if len(rows) != 2 || rows[0].Scenario != "http1" || rows[1].Scenario != "passthrough" {
		t.Fatalf("rows %+v, want http1 then passthrough", rows)
	}
	if h := rows[0]; len(h.RPS) != 2 || h.Met != 1 || h.RPSAhead != 2 || h.P99NoWorse != 1 || h.BestPeers["haproxy"] != 1 || h.BestPeers["nginx"] != 1 {
		t.Errorf("http1 row %+v: want 2 runs, met in 1, ahead on req/s in 2, p99 no worse in 1, best peer nginx once and haproxy once", h)
	}
	if p := rows[1]; len(p.RPS) != 1 || p.Met != 0 || p.MetPerCPU != 1 {
		t.Errorf("passthrough row %+v: want 1 run (b's edgeway failed), not met, met per CPU-second", p)
	}
	md := tallyReport(runs)
	summaryHas(t, md,
		"# edgeway against the best peer, over 2 runs",
		"| a | 2026-11-26T00:00:00Z | cpu | abc1234 | 1.10, p99 0.50 met | 0.75, p99 1.00 |",
		"| b | 2026-11-26T00:00:00Z | cpu | abc1234 | 1.10, p99 1.50 | - |",
		"| http1 | 2 | haproxy 1, nginx 1 | 1.10 [1.10-1.10] | 1.10 [1.10-1.10] | 1.00 [0.50-1.50] | 1 | 1 | 2 | 2 | 1 |",
		"| passthrough | 1 | nginx 1 | 0.75 [0.75-0.75] | 1.50 [1.50-1.50] | 1.00 [1.00-1.00] | 0 | 1 | 0 | 1 | 1 |",
		"RSS at 1000 routes after the load, MiB: 50.00 [50.00-50.00] over 1 runs",
	)
	if err := tally([]string{filepath.Join(tmp, "missing")}); err == nil {
		t.Error("a directory without results.json was tallied")
	}
}
