package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseMetricsPicksOneSeries(t *testing.T) {
	text := `edgeway_controller_translation_phase_seconds_sum{phase="build"} 0.5
edgeway_controller_translation_phase_seconds_sum{phase="translate"} 2
edgeway_controller_translation_phase_seconds_sum{phase="publish"} 0.25
`
	got, err := parseMetrics(strings.NewReader(text), []string{metricTranslateSum, "edgeway_controller_translation_phase_seconds_sum"})
	if err != nil {
		t.Fatal(err)
	}
	if got[metricTranslateSum] != 2 {
		t.Errorf("%s = %v, want 2 (that series only)", metricTranslateSum, got[metricTranslateSum])
	}
	if s := got["edgeway_controller_translation_phase_seconds_sum"]; s != 0.75 {
		t.Errorf("the bare name sums the series not asked for by label: %v, want 0.75", s)
	}
}

// One translation in a sample: the parts add up to the latency.
func TestBreakdownPartsAddUp(t *testing.T) {
	wrote := time.Unix(1000, 0)
	published := wrote.Add(70 * time.Millisecond)
	answered := published.Add(15 * time.Millisecond)
	before := breakdownReading{metrics: map[string]float64{metricTranslationCount: 4, metricWaitSum: 1, metricBuildSum: 1, metricTranslateSum: 1, metricPublishSum: 1, metricAppliedSum: 1, metricAppliedCount: 3}}
	after := breakdownReading{metrics: map[string]float64{
		metricTranslationCount: 5, metricWaitSum: 1.010, metricBuildSum: 1.005, metricTranslateSum: 1.040, metricPublishSum: 1.010,
		metricAppliedSum: 1.012, metricAppliedCount: 4, metricLastPublish: float64(published.UnixNano()) / 1e9,
	}}
	b := breakdownOf(before, after, wrote, answered)
	if !b.OK || b.Translations != 1 {
		t.Fatalf("breakdown %+v: want one translation", b)
	}
	sum := b.EventLag + b.Wait + b.Build + b.Translate + b.Publish + b.Applied + b.AfterAck
	if d := sum - answered.Sub(wrote); d > time.Microsecond || d < -time.Microsecond {
		t.Errorf("parts add up to %v, latency %v (%+v)", sum, answered.Sub(wrote), b)
	}
	if b.EventLag < 4*time.Millisecond || b.EventLag > 6*time.Millisecond {
		t.Errorf("event lag %v, want 5ms", b.EventLag)
	}
}
