package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the run's settings, from the environment (run.sh documents
// them).
type config struct {
	Sizes         []int         // BENCH_SCALE_SIZES: HTTPRoute counts, ascending
	Changes       int           // BENCH_SCALE_CHANGES: propagation samples per size
	Churn         time.Duration // BENCH_SCALE_CHURN: how long routes churn under load (0: no churn)
	ChurnConns    int           // BENCH_SCALE_CHURN_CONNS: load generator connections
	ChurnWrites   float64       // BENCH_SCALE_CHURN_WRITES: route writes per second while churning
	CreateWorkers int           // BENCH_SCALE_CREATE_WORKERS: parallel creates during setup
	Out           string        // BENCH_SCALE_OUT: results directory
	Kubeconfig    string        // EDGEWAY_KUBECONFIG: a running local cluster instead of a fresh one
	Note          string        // BENCH_SCALE_NOTE: a line for the summary (machine, load)
	Perf          bool          // BENCH_SCALE_PERF=1: perf-profile the controller and the data plane during the propagation samples
	StatusWait    time.Duration // BENCH_SCALE_STATUS_WAIT: how long to wait for the size's route statuses before sampling (0: sample at once)
}

func loadConfig(defaultOut string) (config, error) {
	c := config{
		Sizes:         []int{10, 100, 1000, 5000},
		Changes:       100,
		Churn:         30 * time.Second,
		ChurnConns:    4,
		ChurnWrites:   20,
		CreateWorkers: 16,
		StatusWait:    5 * time.Minute,
		Out:           defaultOut,
		Kubeconfig:    os.Getenv("EDGEWAY_KUBECONFIG"),
		Note:          os.Getenv("BENCH_SCALE_NOTE"),
	}
	var errs []string
	bad := func(name, v, want string) { errs = append(errs, fmt.Sprintf("%s=%q: want %s", name, v, want)) }
	if v := os.Getenv("BENCH_SCALE_SIZES"); v != "" {
		c.Sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				bad("BENCH_SCALE_SIZES", v, "a comma-separated list of route counts >= 1, e.g. 10,100")
				break
			}
			c.Sizes = append(c.Sizes, n)
		}
		slices.Sort(c.Sizes)
		c.Sizes = slices.Compact(c.Sizes)
	}
	intVar := func(name string, dst *int, lo int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo {
				bad(name, v, fmt.Sprintf("an integer >= %d", lo))
				return
			}
			*dst = n
		}
	}
	intVar("BENCH_SCALE_CHANGES", &c.Changes, 1)
	intVar("BENCH_SCALE_CHURN_CONNS", &c.ChurnConns, 1)
	intVar("BENCH_SCALE_CREATE_WORKERS", &c.CreateWorkers, 1)
	if v := os.Getenv("BENCH_SCALE_CHURN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("BENCH_SCALE_CHURN", v, "a Go duration such as 30s (0 skips the churn)")
		}
		c.Churn = d
	}
	if v := os.Getenv("BENCH_SCALE_STATUS_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("BENCH_SCALE_STATUS_WAIT", v, "a Go duration such as 5m (0 samples propagation while statuses are still being written)")
		}
		c.StatusWait = d
	}
	if v := os.Getenv("BENCH_SCALE_CHURN_WRITES"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			bad("BENCH_SCALE_CHURN_WRITES", v, "route writes per second > 0")
		}
		c.ChurnWrites = f
	}
	switch v := os.Getenv("BENCH_SCALE_PERF"); v {
	case "", "0":
	case "1":
		c.Perf = true
	default:
		bad("BENCH_SCALE_PERF", v, "1 (profile the controller and the data plane with perf) or 0")
	}
	if v := os.Getenv("BENCH_SCALE_OUT"); v != "" {
		c.Out = v
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("bench-scale settings: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
