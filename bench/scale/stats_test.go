package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.1: time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
}

func TestParseMetricsSumsLabelSets(t *testing.T) {
	text := `# HELP edgeway_proxy_config_swaps_total x
# TYPE edgeway_proxy_config_swaps_total counter
edgeway_proxy_config_swaps_total{listener="a b"} 3
edgeway_proxy_config_swaps_total{listener="c"} 4
edgeway_controller_translation_duration_seconds_sum 1.5
edgeway_controller_translation_duration_seconds_count 12
edgeway_controller_translation_duration_seconds_bucket{le="0.001"} 2
`
	got, err := parseMetrics(strings.NewReader(text), []string{metricConfigSwaps, metricTranslationSum, metricTranslationCount})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{metricConfigSwaps: 7, metricTranslationSum: 1.5, metricTranslationCount: 12}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want only %v", got, want)
	}
}

func TestTargetLinesSayByHowMuch(t *testing.T) {
	s := &sizeResult{Routes: 5000, P99: 150 * time.Millisecond, PeakController: 200 << 20}
	s.Steady.Controller.RSS = 200 << 20
	s.Steady.Dataplane.RSS = 50 << 20
	got := strings.Join(targetLines([]*sizeResult{s}, &churnResult{Unexpected: map[string]int{"stable 503 via gateway": 2}, ConnErrors: map[string]int{}}), "\n")
	for _, want := range []string{
		"propagation p99 at 5000 routes: 150.0 ms, target < 100 ms: **missed** by 50.0 ms (1.5x)",
		"controller RSS at 5000 routes: 200.0 MiB, target < 300 MiB: **met**",
		"data plane RSS at 5000 routes: 50.0 MiB, target < 100 MiB: **met**",
		"errors during churn: 2: **missed**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack %q:\n%s", want, got)
		}
	}
}
