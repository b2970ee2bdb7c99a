package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The targets, at 5000 routes.
const (
	targetRoutes           = 5000
	targetPropagationP99   = 100 * time.Millisecond
	targetControllerRSSMiB = 300
	targetDataplaneRSSMiB  = 100
)

// runInfo says when, where and how the numbers were taken.
type runInfo struct {
	Started, Ended         time.Time
	Commit                 string
	Machine                string
	LoadBefore, LoadAfter  string
	Note                   string
	Cfg                    config
	ControllerPod, DataPod string
	Errors                 []string // what went wrong (the numbers may be partial)
}

func writeSummary(w io.Writer, info runInfo, sizes []*sizeResult, churn *churnResult) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("# Control plane at scale (`make bench-scale`)")
	p("")
	p("Taken %s (%s), commit %s, on %s. Load average before: %s, after: %s.",
		info.Started.UTC().Format("2006-01-02 15:04 UTC"), info.Ended.Sub(info.Started).Round(time.Second), info.Commit, info.Machine, info.LoadBefore, info.LoadAfter)
	if info.Note != "" {
		p("")
		p("**%s**", info.Note)
	}
	p("")
	p("Settings: sizes %v, %d propagation samples per size, churn %s with %d connections and %.0f route writes/s.",
		info.Cfg.Sizes, info.Cfg.Changes, info.Cfg.Churn, info.Cfg.ChurnConns, info.Cfg.ChurnWrites)
	p("Controller pod %s, data plane pod %s (one replica each). How it is measured: bench/scale/README.md.", info.ControllerPod, info.DataPod)
	if len(info.Errors) > 0 {
		p("")
		p("**The run did not complete; the numbers below are what was measured before:**")
		for _, e := range info.Errors {
			p("- %s", e)
		}
	}

	p("")
	p("## Per size")
	p("")
	p("| HTTPRoutes | setup: created / served / statuses written | controller RSS / anon / peak | data plane RSS / anon / peak | setup CPU ctrl / dp | propagation p50 / p99 / max | CPU per change ctrl / dp | translations (mean) | status current |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range sizes {
		timedOut := ""
		if s.TimedOut > 0 {
			timedOut = fmt.Sprintf(" (%d timed out)", s.TimedOut)
		}
		written := "not waited for"
		if s.StatusWritten > 0 {
			written = fmt.Sprintf("%.1f s", s.StatusWritten.Seconds())
			if s.StatusWaitTimedOut {
				written = fmt.Sprintf("not all after %.0f s", s.StatusWritten.Seconds())
			}
		}
		p("| %d | %.1f s / %.1f s / %s | %.0f / %.0f / %.0f MiB | %.0f / %.0f / %.0f MiB | %.1f s / %.1f s | %.1f / %.1f / %.1f ms%s | %.0f / %.0f ms | %d (%.1f ms) | %d of %d |",
			s.Routes, s.Create.Seconds(), s.Served.Seconds(), written,
			mib(s.Steady.Controller.RSS), mib(s.Steady.Controller.Anon), mib(s.PeakController),
			mib(s.Steady.Dataplane.RSS), mib(s.Steady.Dataplane.Anon), mib(s.PeakDataplane),
			s.SetupCPUController, s.SetupCPUDataplane,
			ms(s.P50), ms(s.P99), ms(s.Max), timedOut,
			s.PropCPUController*1000, s.PropCPUDataplane*1000,
			s.Translations, ms(s.TranslationMean), s.StatusCurrent, s.Routes)
	}
	p("")
	p("- *setup*: the size's new routes created with parallel API calls, then the time from the first write until the data plane")
	p("  answered the last one (every route is then checked to answer 200), and until edgeway had written every route's status")
	p("  (the samples start after it, so that they measure a change among routes at rest; BENCH_SCALE_STATUS_WAIT=0 samples")
	p("  while the statuses are still being written).")
	p("- *RSS*: 5 s after setup; *anon* is the part that is not the binary's mapped pages (heap, stacks); *peak* the")
	p("  largest 1 s sample from the setup to the end of the propagation samples.")
	p("- *propagation*: %d writes per size, alternately a new route (404 until served) and a move of that route to the other", info.Cfg.Changes)
	p("  backend; from the write's return to the first correct answer through the Gateway's address, polled every 1 ms.")
	p("- *translations*: the controller's own count and mean duration (its /metrics) during the propagation samples.")
	p("- *status current*: routes whose status edgeway had written for their current generation at the end of the size.")

	writeBreakdown(p, sizes)

	if len(sizes) > 1 {
		lo, hi := sizes[0], sizes[len(sizes)-1]
		p("")
		p("Propagation without and with routes present: p50 %.1f ms, p99 %.1f ms with %d routes; p50 %.1f ms, p99 %.1f ms with %d routes.",
			ms(lo.P50), ms(lo.P99), lo.Routes, ms(hi.P50), ms(hi.P99), hi.Routes)
	}

	if churn != nil {
		p("")
		p("## Churn under load (%d routes present)", churn.Routes)
		p("")
		var writes []string
		total := 0
		for _, k := range slices.Sorted(maps.Keys(churn.Writes)) {
			writes = append(writes, fmt.Sprintf("%d %s", churn.Writes[k], k))
			total += churn.Writes[k]
		}
		p("%.0f s, %d route writes (%s; %d failed).", churn.Duration.Seconds(), total, strings.Join(writes, ", "), churn.WriteErrors)
		if churn.Translations >= 0 && churn.ConfigSwaps >= 0 {
			p("They became %d controller translations and %d data plane configuration swaps under load.", churn.Translations, churn.ConfigSwaps)
		}
		p("")
		p("| target | requests | req/s | unexpected answers | connection errors |")
		p("|---|---:|---:|---:|---:|")
		for _, t := range slices.Sorted(maps.Keys(churn.Requests)) {
			unexpected := 0
			for k, v := range churn.Unexpected {
				if strings.HasSuffix(k, " via "+t) {
					unexpected += v
				}
			}
			p("| %s | %d | %.0f | %d | %d |", t, churn.Requests[t], float64(churn.Requests[t])/churn.Duration.Seconds(), unexpected, churn.ConnErrors[t])
		}
		p("")
		p("Stable routes answered 200 %d times, churning routes 200 or 404 %d times; answers with Connection: close: %d.", churn.StableOK, churn.ChurningOK, churn.ServerClose)
		for _, k := range slices.Sorted(maps.Keys(churn.Unexpected)) {
			p("- unexpected: %d × %s", churn.Unexpected[k], k)
		}
	}

	p("")
	p("## Targets")
	p("")
	for _, line := range targetLines(sizes, churn) {
		p("- %s", line)
	}
}

// targetLines evaluates the targets at the size closest to 5000
// (the largest measured), saying by how much a missed one is missed.
func targetLines(sizes []*sizeResult, churn *churnResult) []string {
	var out []string
	if len(sizes) == 0 {
		return []string{"no size was measured"}
	}
	s := sizes[len(sizes)-1]
	at := fmt.Sprintf("at %d routes", s.Routes)
	if s.Routes != targetRoutes {
		at += fmt.Sprintf(" (the target is for %d: not measured in this run)", targetRoutes)
	}
	verdict := func(name string, got, limit float64, unit string) string {
		if got < limit {
			return fmt.Sprintf("%s %s: %.1f %s, target < %.0f %s: **met**", name, at, got, unit, limit, unit)
		}
		return fmt.Sprintf("%s %s: %.1f %s, target < %.0f %s: **missed** by %.1f %s (%.1fx)", name, at, got, unit, limit, unit, got-limit, unit, got/limit)
	}
	out = append(out,
		verdict("propagation p99", ms(s.P99), ms(targetPropagationP99), "ms"),
		verdict("controller RSS", mib(s.Steady.Controller.RSS), targetControllerRSSMiB, "MiB"),
		verdict("data plane RSS", mib(s.Steady.Dataplane.RSS), targetDataplaneRSSMiB, "MiB"))
	if peak := mib(s.PeakController); peak >= targetControllerRSSMiB {
		out = append(out, fmt.Sprintf("controller peak RSS %s: %.1f MiB (over the target during setup)", at, peak))
	}
	switch {
	case churn == nil:
		out = append(out, "churn: not run")
	case churn.Errors() == 0:
		out = append(out, fmt.Sprintf("errors during churn: 0 of %d requests: **met**", churn.StableOK+churn.ChurningOK))
	default:
		out = append(out, fmt.Sprintf("errors during churn: %d: **missed** (target 0; each is listed in churn_errors.csv)", churn.Errors()))
	}
	return out
}
