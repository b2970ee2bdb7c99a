package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// One run's verdicts move with the host: the per-round ratios of a scenario
// spread by up to 0.4 within a run, and a row within a few percent of the
// best peer can land on either side of the target from one run to the next.
// The tally puts several runs' verdicts side by side, computed exactly as
// each run's summary computes them, so that what holds in most runs can be
// told from what one run happened to show.

// tallyRun is one run's verdicts, and what says where and on what it ran.
type tallyRun struct {
	Dir, Started, CPU, Build string
	Verdicts                 []verdict
	DataplaneRSSKiB          int64 // edgeway-dataplane at 1000 routes, after the load
}

// loadTallyRun computes a run's verdicts from its results.json.
func loadTallyRun(dir string) (tallyRun, error) {
	doc, err := readResults(dir, "-tally")
	if err != nil {
		return tallyRun{}, err
	}
	cells, vs, _ := judge(doc)
	run := tallyRun{
		Dir:      filepath.Base(filepath.Clean(dir)),
		Started:  doc.Environment.Started,
		CPU:      doc.Environment.CPUModel,
		Build:    buildOf(doc.Environment.Versions[edgewayName+"-dataplane"]),
		Verdicts: vs,
	}
	for _, c := range cells {
		if c.Target == edgewayDP1kName && c.ok() {
			run.DataplaneRSSKiB = c.RSSKiB
		}
	}
	return run, nil
}

// tallyRow is one scenario over the runs that measured edgeway and a peer
// in it.
type tallyRow struct {
	Scenario              string
	BestPeers             map[string]int
	RPS, PerCPU, P99      []float64 // edgeway ÷ best peer, one per run
	Met, MetPerCPU        int       // runs that met the target; the same with req/CPU-s for req/s
	RoundsMet, Rounds     int
	RPSAhead, PerCPUAhead int // runs with edgeway's ratio at least 1
	P99NoWorse            int
	LoadBoundRuns         int // runs in which the load core limited edgeway's row
}

// tallyRows gathers the runs' verdicts by scenario, in the order the
// scenarios first appear.
func tallyRows(runs []tallyRun) []*tallyRow {
	var rows []*tallyRow
	by := map[string]*tallyRow{}
	for _, run := range runs {
		for _, v := range run.Verdicts {
			if !v.Have || !v.HavePeer {
				continue
			}
			row := by[v.Scenario]
			if row == nil {
				row = &tallyRow{Scenario: v.Scenario, BestPeers: map[string]int{}}
				by[v.Scenario] = row
				rows = append(rows, row)
			}
			row.BestPeers[v.Best.Target]++
			row.RPS = append(row.RPS, v.RPSRatio)
			row.PerCPU = append(row.PerCPU, v.PerCPURatio)
			row.P99 = append(row.P99, v.P99Ratio)
			if v.Met {
				row.Met++
			}
			if v.PerCPURatio >= 1 && v.P99Ratio <= 1 {
				row.MetPerCPU++
			}
			if v.RPSRatio >= 1 {
				row.RPSAhead++
			}
			if v.PerCPURatio >= 1 {
				row.PerCPUAhead++
			}
			if v.P99Ratio <= 1 {
				row.P99NoWorse++
			}
			if v.Edgeway.loadBound() {
				row.LoadBoundRuns++
			}
			for _, r := range v.Rounds {
				row.Rounds++
				if r.met() {
					row.RoundsMet++
				}
			}
		}
	}
	return rows
}

// spread is "median [least-most]".
func spread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f [%.2f-%.2f]", median(v), slices.Min(v), slices.Max(v))
}

// tallyReport renders the runs' verdicts side by side, then by scenario.
func tallyReport(runs []tallyRun) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("# edgeway against the best peer, over %d runs\n\n", len(runs))
	w("Each run's verdicts are computed as its summary computes them: medians of its rounds, edgeway over the peer with the most requests/s. req/CPU-s is requests per second of the proxy's own CPU time (the target's \"requests/s per core\"). A run that did not measure edgeway and a peer in a scenario is left out of that scenario's row.\n\n")
	w("| run | started | CPU | built at |")
	rows := tallyRows(runs)
	var scen []string
	for _, row := range rows {
		scen = append(scen, row.Scenario)
		w(" %s |", row.Scenario)
	}
	w("\n|---|---|---|---|%s\n", strings.Repeat("---|", len(scen)))
	for _, run := range runs {
		w("| %s | %s | %s | %s |", run.Dir, run.Started, run.CPU, orDash(run.Build))
		for _, s := range scen {
			i := slices.IndexFunc(run.Verdicts, func(v verdict) bool { return v.Scenario == s && v.Have && v.HavePeer })
			if i < 0 {
				w(" - |")
				continue
			}
			v := run.Verdicts[i]
			mark := ""
			if v.Met {
				mark = " met"
			}
			w(" %.2f, p99 %.2f%s |", v.RPSRatio, v.P99Ratio, mark)
		}
		w("\n")
	}
	w("\nCells: edgeway's requests/s over the best peer's, then its p99 over that peer's; met when the first is at least 1 and the second at most 1.\n\n")
	w("| scenario | runs | best peer (runs) | req/s ratio, median [range] | req/CPU-s ratio | p99 ratio | met | met on req/CPU-s | req/s ≥ 1 | req/CPU-s ≥ 1 | p99 ≤ 1 | rounds met | load core the limit |\n")
	w("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range rows {
		var best []string
		for _, p := range slices.Sorted(maps.Keys(row.BestPeers)) {
			best = append(best, fmt.Sprintf("%s %d", p, row.BestPeers[p]))
		}
		w("| %s | %d | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d of %d | %d |\n",
			row.Scenario, len(row.RPS), strings.Join(best, ", "), spread(row.RPS), spread(row.PerCPU), spread(row.P99),
			row.Met, row.MetPerCPU, row.RPSAhead, row.PerCPUAhead, row.P99NoWorse, row.RoundsMet, row.Rounds, row.LoadBoundRuns)
	}
	var rss []float64
	for _, run := range runs {
		if run.DataplaneRSSKiB > 0 {
			rss = append(rss, float64(run.DataplaneRSSKiB)/1024)
		}
	}
	if len(rss) > 0 {
		w("\nedgeway-dataplane's RSS at 1000 routes after the load, MiB: %s over %d runs (target under 64).\n", spread(rss), len(rss))
	}
	return b.String()
}

// buildOf is the commit in a version line such as "edgeway-dataplane
// 8eb0b32 (go1.26.8, linux/amd64, ...)".
func buildOf(version string) string {
	if f := strings.Fields(version); len(f) > 1 {
		return f[1]
	}
	return version
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tally prints the report over the given runs' directories.
func tally(dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("-tally: give the runs' directories, e.g. bench/results/peers/20261126T*Z")
	}
	var runs []tallyRun
	for _, d := range dirs {
		run, err := loadTallyRun(d)
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	fmt.Print(tallyReport(runs))
	return nil
}
