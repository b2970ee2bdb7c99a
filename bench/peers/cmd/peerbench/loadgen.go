package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadResult is what one load generator run measured.
type loadResult struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	// Errors are failed requests: socket errors (wrk), failed or errored
	// requests (h2load), and answers other than 2xx/3xx.
	Errors int64 `json:"errors"`
	// ErrorDetail is the tool's own line(s) about them.
	ErrorDetail string `json:"error_detail,omitempty"`
	// Protocol is the application protocol h2load negotiated.
	Protocol string `json:"protocol,omitempty"`
	// CPUSeconds is the load generator's own CPU time in the run, user
	// and system, from the kernel's accounting of the exited process
	// (absent in results from before it was recorded).
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
}

// loadRun is one invocation of wrk or h2load for a scenario.
type loadRun struct {
	Scenario scenario
	URL      string
	Duration time.Duration
	CPU      int
	// LogFile is where h2load writes its per-request log (for percentiles).
	LogFile string
}

// args is the load generator's command line, pinned to the load CPU. One
// thread: the generator has one core.
func (r loadRun) args() []string {
	s := r.Scenario
	secs := strconv.Itoa(max(1, int(r.Duration.Round(time.Second)/time.Second)))
	var a []string
	switch s.Tool {
	case "wrk":
		a = append(a, "wrk", "-t1", "-c"+strconv.Itoa(s.Conns), "-d"+secs+"s", "--latency", "--timeout", "5s")
		for _, h := range s.Headers {
			a = append(a, "-H", h)
		}
		if s.Host != "" {
			a = append(a, "-H", "Host: "+s.Host)
		}
	case "h2load":
		a = append(a, "h2load", "-t1", "-c"+strconv.Itoa(s.Conns), "-m"+strconv.Itoa(max(1, s.Streams)), "-D", secs, "--log-file="+r.LogFile)
		for _, h := range s.Headers {
			a = append(a, "-H", h)
		}
		if s.Host != "" {
			a = append(a, "-H", ":authority: "+s.Host)
		}
	}
	return pinned(r.CPU, append(a, r.URL)...)
}

// run executes the load and parses its output; the raw output is returned
// even when parsing fails.
func (r loadRun) run(ctx context.Context) (string, loadResult, error) {
	args := r.args()
	if r.Scenario.Tool == "h2load" {
		// h2load appends to its --log-file: without this, every run's
		// percentiles would take in the requests of all the h2 runs
		// before it, every target's (the h2 rows' p50 and p99 did so
		// until 2026-11-24).
		if err := os.Remove(r.LogFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", loadResult{}, fmt.Errorf("removing h2load's log of the run before: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.Duration+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	raw := "$ " + strings.Join(args, " ") + "\n" + string(out)
	if err != nil {
		return raw, loadResult{}, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	var res loadResult
	switch r.Scenario.Tool {
	case "wrk":
		res, err = parseWrk(string(out))
	case "h2load":
		var lat []time.Duration
		lat, err = readH2loadLog(r.LogFile)
		if err == nil {
			res, err = parseH2load(string(out), lat)
		}
	default:
		err = fmt.Errorf("unknown load generator %q", r.Scenario.Tool)
	}
	if st := cmd.ProcessState; st != nil {
		// taskset and nice exec the generator, so this is its own time.
		res.CPUSeconds = (st.UserTime() + st.SystemTime()).Seconds()
	}
	return raw, res, err
}

var (
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	wrkTotal    = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)\s*$`)
	h2Finished  = regexp.MustCompile(`(?m)^finished in ([0-9.]+)(us|ms|s|m|h), ([0-9.]+) req/s`)
	h2Requests  = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout\s*$`)
	h2Status    = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx\s*$`)
	h2Protocol  = regexp.MustCompile(`(?m)^Application protocol: (\S+)\s*$`)
	errNoResult = errors.New("the load generator's output has no result (see the raw output)")
)

// toDuration converts wrk's and h2load's "<number><unit>" values.
func toDuration(num, unit string) (time.Duration, error) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	scale := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[unit]
	if scale == 0 {
		return 0, fmt.Errorf("unknown time unit %q", unit)
	}
	return time.Duration(v * scale), nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// parseWrk reads wrk --latency output.
func parseWrk(out string) (loadResult, error) {
	var res loadResult
	m := wrkRPS.FindStringSubmatch(out)
	t := wrkTotal.FindStringSubmatch(out)
	if m == nil || t == nil {
		return res, errNoResult
	}
	res.RPS, _ = strconv.ParseFloat(m[1], 64)
	res.Requests, _ = strconv.ParseInt(t[1], 10, 64)
	d, err := toDuration(t[2], t[3])
	if err != nil {
		return res, err
	}
	res.Seconds = d.Seconds()
	found := 0
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		d, err := toDuration(p[2], p[3])
		if err != nil {
			return res, err
		}
		found++
		switch p[1] {
		case "50":
			res.P50ms = ms(d)
		case "99":
			res.P99ms = ms(d)
		}
	}
	if found != 2 {
		return res, errors.New("wrk output without a 50% and 99% latency line (was --latency given?)")
	}
	var detail []string
	if s := wrkSocket.FindStringSubmatch(out); s != nil {
		for _, n := range s[1:] {
			v, _ := strconv.ParseInt(n, 10, 64)
			res.Errors += v
		}
		detail = append(detail, strings.TrimSpace(s[0]))
	}
	if s := wrkNon2xx.FindStringSubmatch(out); s != nil {
		v, _ := strconv.ParseInt(s[1], 10, 64)
		res.Errors += v
		detail = append(detail, strings.TrimSpace(s[0]))
	}
	res.ErrorDetail = strings.Join(detail, "; ")
	return res, nil
}

// parseH2load reads h2load's summary; the latencies come from its
// per-request log, since h2load prints no percentiles.
func parseH2load(out string, latencies []time.Duration) (loadResult, error) {
	var res loadResult
	f := h2Finished.FindStringSubmatch(out)
	r := h2Requests.FindStringSubmatch(out)
	if f == nil || r == nil {
		return res, errNoResult
	}
	d, err := toDuration(f[1], f[2])
	if err != nil {
		return res, err
	}
	res.Seconds = d.Seconds()
	res.RPS, _ = strconv.ParseFloat(f[3], 64)
	res.Requests, _ = strconv.ParseInt(r[4], 10, 64) // succeeded
	for _, i := range []int{5, 6, 7} {               // failed, errored, timeout
		v, _ := strconv.ParseInt(r[i], 10, 64)
		res.Errors += v
	}
	detail := []string{strings.TrimSpace(r[0])}
	if s := h2Status.FindStringSubmatch(out); s != nil {
		for _, n := range s[3:] { // 4xx, 5xx
			v, _ := strconv.ParseInt(n, 10, 64)
			res.Errors += v
		}
		detail = append(detail, strings.TrimSpace(s[0]))
	}
	if p := h2Protocol.FindStringSubmatch(out); p != nil {
		res.Protocol = p[1]
	}
	res.ErrorDetail = strings.Join(detail, "; ")
	if len(latencies) == 0 {
		return res, errors.New("h2load's per-request log is empty")
	}
	if done, _ := strconv.ParseInt(r[3], 10, 64); int64(len(latencies)) > done {
		// h2load logs each request it completed, once.
		return res, fmt.Errorf("h2load's per-request log has %d requests, more than the %d it did: it holds an earlier run's too", len(latencies), done)
	}
	res.P50ms = ms(percentile(latencies, 50))
	res.P99ms = ms(percentile(latencies, 99))
	return res, nil
}

// readH2loadLog reads h2load --log-file: per request, tab-separated, the
// start time (µs since the epoch), the status code and the duration (µs).
func readH2loadLog(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			continue
		}
		us, err := strconv.ParseInt(strings.TrimSpace(cols[2]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out, sc.Err()
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of ds; ds is
// sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(float64(len(ds))*p/100)) - 1
	return ds[min(max(rank, 0), len(ds)-1)]
}
