package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cell is one scenario and target over all rounds: medians of the rounds.
type cell struct {
	Scenario, Target string
	Peer             bool
	Runs             int
	RPS, P50, P99    float64
	CPU              float64 // proxy cores used
	RSSKiB, PeakKiB  int64   // the last round's RSS, the highest peak
	AnonKiB          int64   // the last round's anonymous RSS
	Errors           int64   // all rounds
	SplitB           *float64
	Skipped, Error   string
	// LoadMin, LoadMax: the machine's 1-minute load average as the rounds
	// started (the benchmark itself adds about 2).
	LoadMin, LoadMax float64
	// StealMax: the largest share of CPU time the host stole in a round
	// (-1: not known).
	StealMax float64
	// LoadCore: how busy the load generator's and backend's CPU was, the
	// median of the rounds (-1: not known).
	LoadCore float64
	// Switches: the proxy's context switches per request, the median of
	// the rounds (-1: not known).
	Switches float64
	// Wakes: the wake-ups of sleeping processes the proxy caused per
	// request, the median of the rounds (-1: not known).
	Wakes float64
	// AcceptQueue: the connections waiting in the accept queue of the
	// port under load, the median of the rounds' means (-1: not known).
	AcceptQueue float64
	// StealRetries: the measured runs thrown away for the host's steal,
	// over the rounds.
	StealRetries int
	// NewConn: the new-connection probe over the rounds (nil: not probed).
	NewConn *probeCell
	// LoadGenCPU, BackendCPU: the load generator's and the backend's CPU
	// microseconds per request, medians of the rounds (-1: not known).
	LoadGenCPU, BackendCPU float64
	// ByRound: each round's requests/s and p99, for the ratios of one
	// round (rounds ran every target of a scenario within a minute, so the
	// host's drift cancels in them where it does not across rounds).
	ByRound map[int]loadResult
}

// probeCell is the new-connection probe in one scenario and target: the
// percentiles of all its rounds' connections together, and how many there
// were and failed.
type probeCell struct {
	Count, Errors                        int
	P50, P99, HandshakeP50, HandshakeP99 float64
}

// aggregateProbes pools the rounds' connections. Results written before
// the probe kept each connection's times have only each round's
// percentiles: their medians, then.
func aggregateProbes(rs []connProbeResult) *probeCell {
	if len(rs) == 0 {
		return nil
	}
	var c probeCell
	var p50, p99, h50, h99 []float64
	var totals, handshakes []time.Duration
	pooled := true
	for _, r := range rs {
		c.Count += r.Count
		c.Errors += r.Errors
		if r.Count == 0 {
			continue
		}
		p50, p99 = append(p50, r.P50ms), append(p99, r.P99ms)
		h50, h99 = append(h50, r.HandshakeP50), append(h99, r.HandshakeP99)
		if len(r.TotalsUs) != r.Count || len(r.HandshakesUs) != r.Count {
			pooled = false
		}
		for i := range r.TotalsUs {
			totals = append(totals, time.Duration(r.TotalsUs[i])*time.Microsecond)
		}
		for i := range r.HandshakesUs {
			handshakes = append(handshakes, time.Duration(r.HandshakesUs[i])*time.Microsecond)
		}
	}
	if pooled && len(totals) > 0 {
		c.P50, c.P99 = ms(percentile(totals, 50)), ms(percentile(totals, 99))
		c.HandshakeP50, c.HandshakeP99 = ms(percentile(handshakes, 50)), ms(percentile(handshakes, 99))
		return &c
	}
	c.P50, c.P99, c.HandshakeP50, c.HandshakeP99 = median(p50), median(p99), median(h50), median(h99)
	return &c
}

// loadBound reports whether the load generator's and backend's core, not
// the proxy, limited the rounds: that core was all but saturated while the
// proxy left a tenth of its own unused. Such a row's requests/s measure
// what the proxy costs the other core (how it batches its reads and
// writes), and its req/CPU-s what it costs its own.
func (c cell) loadBound() bool {
	return c.Target != baselineName && c.LoadCore >= 0.95 && c.CPU > 0 && c.CPU < 0.9
}

// loadCoreText is the load core column: how busy that core was, marked *
// when it limited the row.
func (c cell) loadCoreText() string {
	if c.loadBound() {
		return percent(c.LoadCore) + " *"
	}
	return percent(c.LoadCore)
}

// perCPU is requests per second of the proxy's own CPU time: throughput
// per core even when the proxy did not get its whole core.
func (c cell) perCPU() float64 {
	if c.CPU <= 0 {
		return 0
	}
	return c.RPS / c.CPU
}

func (c cell) ok() bool { return c.Runs > 0 && c.Error == "" && c.Skipped == "" }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// aggregate groups the records by scenario and target, in run order.
func aggregate(records []runRecord, peers map[string]bool) []cell {
	type key struct{ s, t string }
	var order []key
	groups := map[key][]runRecord{}
	for _, r := range records {
		k := key{r.Scenario, r.Target}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []cell
	for _, k := range order {
		c := cell{Scenario: k.s, Target: k.t, Peer: peers[k.t], StealMax: -1, LoadCore: -1, Switches: -1, Wakes: -1, AcceptQueue: -1, LoadGenCPU: -1, BackendCPU: -1}
		var rps, p50, p99, cpu, split, loadCore, switches, wakes, queue, loadGenCPU, backendCPU []float64
		var probes []connProbeResult
		for _, r := range groups[k] {
			if f := strings.Fields(r.Load); len(f) > 0 {
				if l, err := strconv.ParseFloat(f[0], 64); err == nil {
					if c.LoadMax == 0 || l < c.LoadMin {
						c.LoadMin = l
					}
					c.LoadMax = max(c.LoadMax, l)
				}
			}
			if r.Skipped == "" {
				c.StealMax = max(c.StealMax, r.Steal)
				c.StealRetries += r.StealRetries
			}
			switch {
			case r.Skipped != "":
				c.Skipped = r.Skipped
				continue
			case r.Error != "":
				c.Error = r.Error
				continue
			}
			c.Runs++
			if c.ByRound == nil {
				c.ByRound = map[int]loadResult{}
			}
			c.ByRound[r.Round] = r.Result
			rps, p50, p99, cpu = append(rps, r.Result.RPS), append(p50, r.Result.P50ms), append(p99, r.Result.P99ms), append(cpu, r.ProxyCPU)
			c.Errors += r.Result.Errors
			c.RSSKiB, c.AnonKiB = r.RSSKiB, r.AnonKiB
			c.PeakKiB = max(c.PeakKiB, r.PeakKiB)
			if r.SplitB != nil {
				split = append(split, *r.SplitB)
			}
			if r.LoadCoreBusy != nil && *r.LoadCoreBusy >= 0 {
				loadCore = append(loadCore, *r.LoadCoreBusy)
			}
			if r.ProxySwitches != nil {
				switches = append(switches, *r.ProxySwitches)
			}
			if r.ProxyWakes != nil {
				wakes = append(wakes, *r.ProxyWakes)
			}
			if r.AcceptQueue != nil {
				queue = append(queue, *r.AcceptQueue)
			}
			if r.NewConn != nil {
				probes = append(probes, *r.NewConn)
			}
			if r.LoadGenCPU != nil && r.BackendCPU != nil {
				loadGenCPU, backendCPU = append(loadGenCPU, *r.LoadGenCPU), append(backendCPU, *r.BackendCPU)
			}
		}
		if len(loadGenCPU) > 0 {
			c.LoadGenCPU, c.BackendCPU = median(loadGenCPU), median(backendCPU)
		}
		c.NewConn = aggregateProbes(probes)
		if len(loadCore) > 0 {
			c.LoadCore = median(loadCore)
		}
		if len(switches) > 0 {
			c.Switches = median(switches)
		}
		if len(wakes) > 0 {
			c.Wakes = median(wakes)
		}
		if len(queue) > 0 {
			c.AcceptQueue = median(queue)
		}
		c.RPS, c.P50, c.P99, c.CPU = median(rps), median(p50), median(p99), median(cpu)
		if len(split) > 0 {
			m := median(split)
			c.SplitB = &m
		}
		out = append(out, c)
	}
	return out
}

// verdict is edgeway against the best peer in one scenario.
type verdict struct {
	Scenario       string
	Best           cell // the peer with the most requests/s
	Edgeway        cell
	RPSRatio       float64 // edgeway ÷ best peer
	P99Ratio       float64
	PerCPURatio    float64
	Met            bool
	HavePeer, Have bool
	// Rounds: edgeway against the same peer within each round both ran
	// in, in round order.
	Rounds []roundRatio
}

// roundRatio is edgeway against the best peer in one round.
type roundRatio struct {
	Round    int
	RPS, P99 float64 // edgeway ÷ peer
}

// met: the round met the target on both counts.
func (r roundRatio) met() bool { return r.RPS >= 1 && r.P99 <= 1 }

// roundRatios pairs edgeway's rounds with the peer's.
func roundRatios(edgeway, peer cell) []roundRatio {
	var out []roundRatio
	for _, r := range slices.Sorted(maps.Keys(edgeway.ByRound)) {
		p, ok := peer.ByRound[r]
		if !ok || p.RPS <= 0 || p.P99ms <= 0 {
			continue
		}
		e := edgeway.ByRound[r]
		out = append(out, roundRatio{Round: r, RPS: e.RPS / p.RPS, P99: e.P99ms / p.P99ms})
	}
	return out
}

// roundsText shows the rounds' ratios and how many of them met the
// target: "0.91, 1.02, 0.97 (p99 1.30, 0.95, 1.21); met in 1 of 3".
func roundsText(rs []roundRatio) string {
	if len(rs) < 2 {
		return "-"
	}
	var rps, p99 []string
	met := 0
	for _, r := range rs {
		rps, p99 = append(rps, fmt.Sprintf("%.2f", r.RPS)), append(p99, fmt.Sprintf("%.2f", r.P99))
		if r.met() {
			met++
		}
	}
	return fmt.Sprintf("%s (p99 %s); met in %d of %d", strings.Join(rps, ", "), strings.Join(p99, ", "), met, len(rs))
}

func verdicts(cells []cell, scenarioOrder []string) []verdict {
	var out []verdict
	for _, s := range scenarioOrder {
		v := verdict{Scenario: s}
		for _, c := range cells {
			if c.Scenario != s || !c.ok() {
				continue
			}
			if c.Peer && (!v.HavePeer || c.RPS > v.Best.RPS) {
				v.Best, v.HavePeer = c, true
			}
			if c.Target == edgewayName {
				v.Edgeway, v.Have = c, true
			}
		}
		if v.HavePeer && v.Have {
			v.RPSRatio = v.Edgeway.RPS / v.Best.RPS
			v.P99Ratio = v.Edgeway.P99 / v.Best.P99
			if v.Best.perCPU() > 0 {
				v.PerCPURatio = v.Edgeway.perCPU() / v.Best.perCPU()
			}
			v.Met = v.RPSRatio >= 1 && v.P99Ratio <= 1
			v.Rounds = roundRatios(v.Edgeway, v.Best)
		}
		out = append(out, v)
	}
	return out
}

func mib(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// summary renders the report in Markdown.
func summary(env environment, cells []cell, vs []verdict, profiles []profileRecord) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Peer benchmark, %s\n\n", env.Started)
	w("Machine: %s, %d CPUs, kernel %s. Load average (1, 5, 15 min) before: %s, after: %s.\n\n",
		env.CPUModel, env.CPUs, env.Kernel, env.LoadBefore, env.LoadAfter)
	w("Settings: ")
	for i, k := range slices.Sorted(maps.Keys(env.Settings)) {
		if i > 0 {
			w("; ")
		}
		w("%s %s", k, env.Settings[k])
	}
	w(".\n\nVersions: ")
	for i, k := range slices.Sorted(maps.Keys(env.Versions)) {
		if i > 0 {
			w("; ")
		}
		w("%s: %s", k, env.Versions[k])
	}
	w(".\n\n")

	w("## Results\n\n")
	w("Medians over the rounds. req/CPU-s is requests per second of the proxy's own CPU time (its core's share it actually got); ")
	w("÷ baseline and ÷ best peer compare requests/s.\n\n")
	w("RSS is VmRSS after the run, with its anonymous part (heap, stacks; the rest is mostly the mapped executable) in parentheses.\n\n")
	w("load is the machine's 1-minute load average as the rounds started (the benchmark itself accounts for about 2). ")
	w("steal is the largest share of the machine's CPU time the hypervisor took for other guests in a round: ")
	w("above a few percent the pinned proxy did not get its core and the row is not comparable. ")
	w("A run above the max steal setting was measured again and the attempt with the least steal kept; the column counts the runs measured again. ")
	w("load core is how busy the load generator's and backend's CPU was (of the time it ran this guest): ")
	w("near 100%% while the proxy CPU is under 0.9, that core, not the proxy, was the limit of the row (marked *). ")
	w("switches/req is how often the proxy's threads were switched out (waiting for work or preempted) per request. ")
	w("wakes/req is how many sleeping processes (the load generator, the backend, its own threads) the proxy woke per request, ")
	w("each an interprocessor interrupt on its core when the sleeper is on the other (perf's %s; ? without perf). ", wakeEvent)
	w("accept queue is how many connections, on average, the kernel had taken for the port under load that the proxy had not yet accepted: ")
	w("the load generator's latency starts after the handshake, so their wait is in no latency (Little's law puts it at queue ÷ req/s per connection).\n\n")
	w("| scenario | target | req/s | p50 ms | p99 ms | proxy CPU | req/CPU-s | switches/req | wakes/req | accept queue | RSS MiB | ÷ baseline | ÷ best peer | errors | load | steal | load core |\n")
	w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	base := map[string]cell{}
	best := map[string]cell{}
	for _, v := range vs {
		if v.HavePeer {
			best[v.Scenario] = v.Best
		}
	}
	for _, c := range cells {
		if c.Target == baselineName && c.ok() {
			base[c.Scenario] = c
		}
	}
	for _, c := range cells {
		switch {
		case c.Skipped != "":
			w("| %s | %s | n/a: %s | | | | | | | | | | | | | | |\n", c.Scenario, c.Target, c.Skipped)
			continue
		case !c.ok():
			w("| %s | %s | failed: %s | | | | | | | | | | | | | | |\n", c.Scenario, c.Target, oneLine(c.Error))
			continue
		}
		cpu, perCPU, switches, wakes := "-", "-", "-", "-"
		if c.Target != baselineName {
			cpu, perCPU = fmt.Sprintf("%.2f", c.CPU), fmt.Sprintf("%.0f", c.perCPU())
			switches, wakes = perRequest(&c.Switches), perRequest(&c.Wakes)
		}
		errs := fmt.Sprint(c.Errors)
		if c.SplitB != nil {
			errs += fmt.Sprintf(" (b got %.1f%%)", *c.SplitB*100)
		}
		baseScenario := c.Scenario
		if c.Scenario == routesScenario().Name {
			baseScenario = "http1"
		}
		rss := mib(c.RSSKiB)
		if c.AnonKiB > 0 {
			rss += " (" + mib(c.AnonKiB) + ")"
		}
		load := fmt.Sprintf("%.1f", c.LoadMin)
		if c.LoadMax != c.LoadMin {
			load += fmt.Sprintf("-%.1f", c.LoadMax)
		}
		w("| %s | %s | %.0f | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Scenario, c.Target, c.RPS, c.P50, c.P99,
			cpu, perCPU, switches, wakes, queued(&c.AcceptQueue), rss, ratio(c.RPS, base[baseScenario].RPS), ratio(c.RPS, best[baseScenario].RPS), errs, load, stealCell(c), c.loadCoreText())
	}

	w("\n## edgeway against the best peer\n\n")
	w("Target (issue 7): requests/s at least the best peer's, p99 no worse than that peer's. ")
	w("The best peer is the one with the most requests/s in the scenario. ")
	w("per round is edgeway's req/s and p99 ratio to the same peer in each round: a round runs every target of a scenario ")
	w("within a minute, so the host's drift between rounds cancels in it, and its spread shows how far one run can be trusted.\n\n")
	w("| scenario | best peer | req/s edgeway / peer | ratio | p99 ms edgeway / peer | ratio | req/CPU-s ratio | per round | target |\n")
	w("|---|---|--:|--:|--:|--:|--:|---|---|\n")
	for _, v := range vs {
		if !v.HavePeer || !v.Have {
			w("| %s | - | - | - | - | - | - | - | not measured |\n", v.Scenario)
			continue
		}
		verdictText := "met"
		if !v.Met {
			var behind []string
			if v.RPSRatio < 1 {
				behind = append(behind, fmt.Sprintf("%.0f%% fewer req/s", (1-v.RPSRatio)*100))
			}
			if v.P99Ratio > 1 {
				behind = append(behind, fmt.Sprintf("p99 %.0f%% higher", (v.P99Ratio-1)*100))
			}
			verdictText = "**behind**: " + strings.Join(behind, ", ")
			if v.Edgeway.loadBound() {
				verdictText += fmt.Sprintf(" (the load core was the limit: %s busy, edgeway's CPU %.2f", percent(v.Edgeway.LoadCore), v.Edgeway.CPU)
				if e, p := v.Edgeway.loadCoreCPU(), v.Best.loadCoreCPU(); e > 0 && p > 0 {
					verdictText += fmt.Sprintf("; the load generator and the backend spent %.1f µs a request behind edgeway, %.1f behind %s", e, p, v.Best.Target)
				}
				verdictText += ")"
			}
			if v.P99Ratio > 1 && v.Best.AcceptQueue >= 1 && v.Best.AcceptQueue > 2*max(v.Edgeway.AcceptQueue, 0) {
				verdictText += fmt.Sprintf("; %s's latencies leave out %.1f connections waiting in its accept queue, %.1f ms each, edgeway's %s",
					v.Best.Target, v.Best.AcceptQueue, hiddenWaitMs(v.Best), queued(&v.Edgeway.AcceptQueue))
			}
		}
		if e, p := v.Edgeway.NewConn, v.Best.NewConn; e != nil && p != nil && e.Count > 0 && p.Count > 0 {
			verdictText += fmt.Sprintf("; a new connection from connect to response (the probe): p99 %.3f ms against %.3f (%.2f)", e.P99, p.P99, e.P99/p.P99)
		}
		w("| %s | %s | %.0f / %.0f | %.2f | %.3f / %.3f | %.2f | %s | %s | %s |\n", v.Scenario, v.Best.Target,
			v.Edgeway.RPS, v.Best.RPS, v.RPSRatio, v.Edgeway.P99, v.Best.P99, v.P99Ratio, ratio(v.Edgeway.perCPU(), v.Best.perCPU()), roundsText(v.Rounds), verdictText)
	}

	probeTable(w, cells)
	loadCoreTable(w, cells, best)

	for _, c := range cells {
		idle, what := env.RoutesIdleKiB, "edgeway standalone (controller and data plane in one process)"
		switch {
		case !c.ok():
			continue
		case c.Target == edgewayDP1kName:
			idle, what = env.DataplaneRoutesIdleKiB, "edgeway-dataplane, the data plane alone (its controller in another process)"
		case c.Target != edgeway1kName:
			continue
		}
		met := "met"
		if max(c.RSSKiB, idle) >= 64<<10 {
			met = "**not met**"
		}
		w("\n%s with %d HTTPRoutes: RSS %s MiB idle, %s MiB after the load (anonymous %s MiB, peak %s MiB); target under 64 MiB: %s.\n",
			what, routeCount, mib(idle), mib(c.RSSKiB), mib(c.AnonKiB), mib(c.PeakKiB), met)
	}

	if len(env.TLS) > 0 {
		w("\n## TLS as an OpenSSL client (wrk, h2load) negotiates it\n\n| target and port | negotiated |\n|---|---|\n")
		for _, k := range slices.Sorted(maps.Keys(env.TLS)) {
			w("| %s | %s |\n", k, env.TLS[k])
		}
	}
	if len(profiles) > 0 {
		w("\n## edgeway profiles (a separate pass with the pprof build, not the measured runs)\n\n")
		w("runnable wait is how long the proxy's goroutines waited runnable for its core (the runtime's sampled histogram, ")
		w("each quantile the upper bound of its power-of-two bucket); GC is the collections in the period, ")
		w("their share of the proxy's CPU and their stop-the-world pauses' p99.\n\n")
		w("| scenario | req/s while profiled | runnable wait p50 / p99 ms | GC cycles | GC CPU | GC pause p99 ms | CPU profile | allocation profile |\n")
		w("|---|--:|--:|--:|--:|--:|---|---|\n")
		for _, p := range profiles {
			wait, cycles, gcCPU, pause := "-", "-", "-", "-"
			if rt := p.Runtime; rt != nil {
				wait = fmt.Sprintf("%.3f / %.3f", rt.RunnableWait.P50ms, rt.RunnableWait.P99ms)
				cycles, gcCPU, pause = fmt.Sprint(rt.GCCycles), percent(rt.GCCPUShare), fmt.Sprintf("%.3f", rt.GCPauses.P99ms)
			}
			w("| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", p.Scenario, p.RPS, wait, cycles, gcCPU, pause, p.CPUTop, p.AllocTop)
		}
	}
	return b.String()
}

// probeTable is the new-connection probe's table, for the scenarios that
// had it.
func probeTable(w func(string, ...any), cells []cell) {
	var probed []cell
	for _, c := range cells {
		if c.ok() && c.NewConn != nil {
			probed = append(probed, c)
		}
	}
	if len(probed) == 0 {
		return
	}
	w("\n## New connections as their client sees them (the probe)\n\n")
	w("Beside the load generator, pinned with it, a probe opened a new connection every %s (connprobe.go): ", connProbeEvery)
	w("TCP connect, a full TLS 1.3 handshake, one request, the whole response. Its times run from the connect, ")
	w("so they hold what wrk's leave out: the wait to be accepted and the handshake. Percentiles of all the rounds' connections together; wrk's are medians of the rounds'.\n\n")
	w("| scenario | target | connections | failed | connect to response p50 / p99 ms | connect to handshake done p50 / p99 ms | wrk's p50 / p99 ms | accept queue |\n")
	w("|---|---|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range probed {
		p := c.NewConn
		w("| %s | %s | %d | %d | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %s |\n", c.Scenario, c.Target, p.Count, p.Errors,
			p.P50, p.P99, p.HandshakeP50, p.HandshakeP99, c.P50, c.P99, queued(&c.AcceptQueue))
	}
}

// loadCoreCPU is what the load core spent per request behind this target,
// in microseconds: the load generator's and the backend's CPU together
// (0: not known).
func (c cell) loadCoreCPU() float64 {
	if c.LoadGenCPU < 0 || c.BackendCPU < 0 {
		return 0
	}
	return c.LoadGenCPU + c.BackendCPU
}

// loadCoreTable is what the load generator and the backend spent per
// request behind each target. Where the load core is the limit, a target
// that costs that core more per request gets fewer requests a second,
// however little CPU of its own it uses.
func loadCoreTable(w func(string, ...any), cells []cell, best map[string]cell) {
	var known []cell
	for _, c := range cells {
		if c.ok() && c.loadCoreCPU() > 0 {
			known = append(known, c)
		}
	}
	if len(known) == 0 {
		return
	}
	w("\n## What the load core spent per request\n\n")
	w("CPU microseconds per request of the load generator (its own accounting as it exited) and of the backend (its threads' run time), ")
	w("medians of the rounds; both run on the load core. Where that core was the limit (*), a target that costs it more per request ")
	w("gets fewer requests a second however little of its own core it uses. ÷ best peer compares the sum with the same sum behind the scenario's best peer.\n\n")
	w("| scenario | target | load generator µs/req | backend µs/req | both | ÷ best peer | load core |\n")
	w("|---|---|--:|--:|--:|--:|--:|\n")
	for _, c := range known {
		vsBest := "-"
		if b, ok := best[c.Scenario]; ok && b.loadCoreCPU() > 0 && c.Target != baselineName {
			vsBest = fmt.Sprintf("%.2f", c.loadCoreCPU()/b.loadCoreCPU())
		}
		w("| %s | %s | %.2f | %.2f | %.2f | %s | %s |\n", c.Scenario, c.Target, c.LoadGenCPU, c.BackendCPU, c.loadCoreCPU(), vsBest, c.loadCoreText())
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// resultsDoc is results.json.
type resultsDoc struct {
	Environment environment     `json:"environment"`
	Runs        []runRecord     `json:"runs"`
	Profiles    []profileRecord `json:"profiles,omitempty"`
}

// isPeer: every target but the baseline and edgeway's.
func isPeer(target string) bool {
	return target != baselineName && !strings.HasPrefix(target, edgewayName)
}

// judge aggregates a run's records into cells and gives its verdicts, the
// scenarios in the order they ran (the summary's and the tally's).
func judge(doc resultsDoc) (cells []cell, vs []verdict, order []string) {
	peers := map[string]bool{}
	for _, r := range doc.Runs {
		peers[r.Target] = isPeer(r.Target)
		if r.Scenario != routesScenario().Name && !slices.Contains(order, r.Scenario) {
			order = append(order, r.Scenario)
		}
	}
	cells = aggregate(doc.Runs, peers)
	return cells, verdicts(cells, order), order
}

// renderSummary is summary.md of a results.json: the scenarios in the
// order they ran.
func renderSummary(doc resultsDoc) string {
	cells, vs, order := judge(doc)
	slices.SortStableFunc(cells, func(a, b cell) int {
		return cmp.Compare(scenarioRank(order, a.Scenario), scenarioRank(order, b.Scenario))
	})
	return summary(doc.Environment, cells, vs, doc.Profiles)
}

func (h *harness) writeResults() error {
	doc := resultsDoc{h.env, h.records, h.profiles}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(h.resDir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := h.copyConfigs(); err != nil {
		return err
	}
	return writeSummary(h.resDir, doc)
}

func writeSummary(dir string, doc resultsDoc) error {
	md := renderSummary(doc)
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(md)
	fmt.Printf("\npeerbench: written %s\n", filepath.Join(dir, "summary.md"))
	return nil
}

// resummarize rewrites summary.md from a run's results.json (after a change
// to the report, without measuring again).
func resummarize(dir string) error {
	doc, err := readResults(dir, "-summarize")
	if err != nil {
		return err
	}
	return writeSummary(dir, doc)
}

// readResults reads a run's results.json; flag names the option that was
// given the directory, for the error.
func readResults(dir, flag string) (resultsDoc, error) {
	var doc resultsDoc
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return doc, fmt.Errorf("%w (give %s a results directory, e.g. bench/results/peers/<timestamp>)", err, flag)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("%s: %w", filepath.Join(dir, "results.json"), err)
	}
	return doc, nil
}

// scenarioRank orders the report as the scenarios were given; the
// 1000-route run comes last.
func scenarioRank(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// copyConfigs keeps the generated configurations with the results, less
// the private key (a throwaway, but keys do not belong in a repository).
func (h *harness) copyConfigs() error {
	dst := filepath.Join(h.resDir, "configs")
	for _, name := range []string{"nginx/nginx.conf", "haproxy/haproxy.cfg", "caddy/Caddyfile", "edgeway/config/gateway.yaml"} {
		src := filepath.Join(h.workDir, name)
		b, err := os.ReadFile(src)
		if err != nil {
			continue // a proxy left out of this run
		}
		text := strings.ReplaceAll(string(b), h.workDir, "$WORK")
		if key := strings.TrimSpace(string(h.cert.KeyPEM)); key != "" {
			text = strings.ReplaceAll(text, indentLines(key, "    "), "    (private key left out)")
		}
		out := filepath.Join(dst, filepath.Base(name))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func indentLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// percent renders a share (0.123 -> "12.3%"); a negative one is unknown.
// perRequest renders a per-request figure, "?" when it is not known.
// stealCell is the steal column: the largest share stolen in a kept round,
// and how many runs were measured again for it.
func stealCell(c cell) string {
	s := percent(c.StealMax)
	if c.StealRetries > 0 {
		s += fmt.Sprintf(" (%d run(s) again)", c.StealRetries)
	}
	return s
}

// queued formats a mean accept queue ("?": not known).
func queued(v *float64) string {
	if v == nil || *v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", *v)
}

// hiddenWaitMs is how long, by Little's law, a connection waited in c's
// accept queue: the queue's mean length over the rate connections left it.
// One connection per request (the new-connection scenario) makes that
// rate the requests/s; with keep-alive the queue is empty anyway.
func hiddenWaitMs(c cell) float64 {
	if c.RPS <= 0 || c.AcceptQueue <= 0 {
		return 0
	}
	return c.AcceptQueue / c.RPS * 1000
}

func perRequest(v *float64) string {
	if v == nil || *v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", *v)
}

func percent(share float64) string {
	if share < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f%%", share*100)
}
