package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The controller's metrics that split a propagation sample into its parts
// (controller/source/kube, controller/status, cmd/edgeway).
const (
	metricWaitSum       = "edgeway_controller_translation_wait_seconds_sum"
	metricBuildSum      = `edgeway_controller_translation_phase_seconds_sum{phase="build"}`
	metricTranslateSum  = `edgeway_controller_translation_phase_seconds_sum{phase="translate"}`
	metricPublishSum    = `edgeway_controller_translation_phase_seconds_sum{phase="publish"}`
	metricLastPublish   = "edgeway_controller_last_publish_timestamp_seconds"
	metricAppliedSum    = "edgeway_controller_xds_applied_seconds_sum"
	metricAppliedCount  = "edgeway_controller_xds_applied_seconds_count"
	metricStatusPassSum = "edgeway_controller_status_pass_duration_seconds_sum"
	metricStatusPasses  = "edgeway_controller_status_pass_duration_seconds_count"
	metricStatusWrites  = "edgeway_controller_status_writes_total"
	metricGCCycles      = "go_gc_duration_seconds_count"
)

var breakdownMetrics = []string{
	metricTranslationCount, metricWaitSum, metricBuildSum, metricTranslateSum, metricPublishSum, metricLastPublish,
	metricAppliedSum, metricAppliedCount, metricStatusPassSum, metricStatusPasses, metricStatusWrites, metricGCCycles,
}

// breakdown is where one propagation sample's time went, from the
// controller's metrics read right before the write and right after the
// answer, and both processes' CPU meanwhile. With exactly one translation
// in the sample (the usual case) its parts add up to the latency:
// EventLag (write returned -> the controller's watch event; negative when
// the event came before the API call's answer) + Wait + Build + Translate +
// Publish + Applied (-> the data plane's ACK) + AfterAck (-> the probe's
// answer).
type breakdown struct {
	OK                                 bool // the controller's metrics were read both times
	Translations                       int
	EventLag, Wait                     time.Duration
	Build, Translate, Publish, Applied time.Duration
	AfterAck                           time.Duration
	StatusPasses, StatusWrites         int
	StatusPass                         time.Duration // the passes' time, summed
	GCCycles                           int           // the controller's
	CPUController, CPUDataplane        time.Duration
	Steal                              float64 // the host's, share of all CPU time (/proc/stat)
}

// breakdownProbe reads what a breakdown needs.
type breakdownProbe struct {
	ctrlAddr         netip.Addr
	ctrlPid, dataPid int
}

type breakdownReading struct {
	metrics    map[string]float64
	err        error
	cpuC, cpuD float64
	steal, all float64
}

func (b breakdownProbe) read(ctx context.Context) breakdownReading {
	var r breakdownReading
	r.metrics, r.err = scrape(ctx, b.ctrlAddr, controllerAdminPort, breakdownMetrics...)
	if u, err := readUsage(b.ctrlPid); err == nil {
		r.cpuC = u.CPU
	}
	if u, err := readUsage(b.dataPid); err == nil {
		r.cpuD = u.CPU
	}
	r.steal, r.all = hostSteal()
	return r
}

// breakdownOf a sample written at wrote, answered at answered.
func breakdownOf(before, after breakdownReading, wrote, answered time.Time) breakdown {
	var b breakdown
	b.CPUController = secs(after.cpuC - before.cpuC)
	b.CPUDataplane = secs(after.cpuD - before.cpuD)
	if all := after.all - before.all; all > 0 {
		b.Steal = (after.steal - before.steal) / all
	}
	if before.err != nil || after.err != nil {
		return b
	}
	d := func(name string) float64 { return after.metrics[name] - before.metrics[name] }
	b.OK = true
	b.Translations = int(d(metricTranslationCount))
	b.Wait, b.Build, b.Translate, b.Publish = secs(d(metricWaitSum)), secs(d(metricBuildSum)), secs(d(metricTranslateSum)), secs(d(metricPublishSum))
	b.StatusPasses, b.StatusWrites, b.StatusPass = int(d(metricStatusPasses)), int(d(metricStatusWrites)), secs(d(metricStatusPassSum))
	b.GCCycles = int(d(metricGCCycles))
	if n := d(metricAppliedCount); n > 0 {
		b.Applied = secs(d(metricAppliedSum))
	}
	if b.Translations == 1 {
		published := time.Unix(0, int64(after.metrics[metricLastPublish]*1e9))
		b.EventLag = published.Add(-(b.Wait + b.Build + b.Translate + b.Publish)).Sub(wrote)
		b.AfterAck = answered.Sub(published.Add(b.Applied))
	}
	return b
}

func secs(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// hostSteal reads the host's stolen and total CPU time (/proc/stat, in
// ticks): a sample made slow by another tenant shows there.
func hostSteal() (steal, all float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal (guest time is in user)
			all += n
		}
		if i == 7 {
			steal = n
		}
	}
	return steal, all
}

const breakdownCSVHeader = "translations,event_lag_ms,wait_ms,build_ms,translate_ms,publish_ms,applied_ms,after_ack_ms,status_passes,status_pass_ms,status_writes,gc_cycles,cpu_controller_ms,cpu_dataplane_ms,steal_pct"

func (b breakdown) csv() string {
	if !b.OK {
		return fmt.Sprintf(",,,,,,,,,,,,%.0f,%.0f,%.0f", fms(b.CPUController), fms(b.CPUDataplane), b.Steal*100)
	}
	return fmt.Sprintf("%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%d,%.2f,%d,%d,%.0f,%.0f,%.0f", b.Translations,
		fms(b.EventLag), fms(b.Wait), fms(b.Build), fms(b.Translate), fms(b.Publish), fms(b.Applied), fms(b.AfterAck),
		b.StatusPasses, fms(b.StatusPass), b.StatusWrites, b.GCCycles, fms(b.CPUController), fms(b.CPUDataplane), b.Steal*100)
}

func fms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// breakdownRow: the parts of a group of samples, each part's median (so
// that one outlier does not make a row), and the group's size.
type breakdownRow struct {
	label                 string
	n                     int
	latency               time.Duration
	parts                 [9]time.Duration // event lag, wait, build, translate, publish, applied, after ack, CPU ctrl, CPU dp
	statusPasses, gc, two float64          // the share of samples with a status pass, a GC cycle, more than one translation
}

// breakdownRows groups the samples: all of them, and the slowest tenth.
func breakdownRows(changes []change) []breakdownRow {
	var ok []change
	for _, c := range changes {
		if !c.TimedOut && c.Parts.OK {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	slices.SortFunc(ok, func(a, b change) int { return cmp.Compare(a.Latency, b.Latency) })
	tail := ok[len(ok)*9/10:]
	return []breakdownRow{rowOf("all samples (median of each part)", ok), rowOf("slowest 10% (median of each part)", tail)}
}

func rowOf(label string, cs []change) breakdownRow {
	r := breakdownRow{label: label, n: len(cs)}
	var lat []time.Duration
	var parts [9][]time.Duration
	for _, c := range cs {
		lat = append(lat, c.Latency)
		b := c.Parts
		for i, v := range []time.Duration{b.EventLag, b.Wait, b.Build, b.Translate, b.Publish, b.Applied, b.AfterAck, b.CPUController, b.CPUDataplane} {
			if b.Translations == 1 || i >= 7 {
				parts[i] = append(parts[i], v)
			}
		}
		if b.StatusPasses > 0 {
			r.statusPasses++
		}
		if b.GCCycles > 0 {
			r.gc++
		}
		if b.Translations > 1 {
			r.two++
		}
	}
	r.latency = percentile(lat, 50)
	for i := range parts {
		r.parts[i] = percentile(parts[i], 50)
	}
	n := float64(len(cs))
	r.statusPasses, r.gc, r.two = r.statusPasses/n*100, r.gc/n*100, r.two/n*100
	return r
}

// writeBreakdown is summary.md's section on where the samples' time went.
func writeBreakdown(p func(string, ...any), sizes []*sizeResult) {
	p("")
	p("## Where a change's time went")
	p("")
	p("| HTTPRoutes | samples | n | latency | event lag | wait | build | translate | publish | applied (ACK) | after ACK | CPU ctrl / dp | with a status pass / GC / 2+ translations |")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range sizes {
		for _, r := range breakdownRows(s.Changes) {
			x := r.parts
			p("| %d | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f / %.0f ms | %.0f / %.0f / %.0f %% |", s.Routes, r.label, r.n,
				ms(r.latency), fms(x[0]), fms(x[1]), fms(x[2]), fms(x[3]), fms(x[4]), fms(x[5]), fms(x[6]), fms(x[7]), fms(x[8]),
				r.statusPasses, r.gc, r.two)
		}
	}
	p("")
	p("- From the controller's metrics read right before each write and right after its answer (propagation.csv has every")
	p("  sample's parts): *event lag* the write's return to the controller's watch event (negative: the event came first),")
	p("  *wait* to the translation's start (debounce, or a translation still running), *build* the Snapshot, *translate*,")
	p("  *publish* (xDS), *applied* until the data plane's ACK, *after ACK* until the probe's answer. The time parts count")
	p("  samples with exactly one translation; CPU (ticks of 10 ms) and the shares count all.")
}
