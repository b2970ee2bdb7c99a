package main

import (
	"strings"
	"testing"
)

// TestStealRetryKeepsTheLeastStolenRun: a run above -max-steal is measured
// again; the attempt kept is the one that did not fail, then the one with
// the least steal, and the report counts the runs measured again.
func TestStealRetryKeepsTheLeastStolenRun(t *testing.T) {
	h := &harness{opts: options{maxSteal: 0.05, stealRetries: 2}}
	withSteal := func(steal float64, err string) runRecord {
		r := rec("http1", edgewayName, 0, 20000, 9, 0.9)
		r.Steal, r.Error = steal, err
		return r
	}
	for _, c := range []struct {
		r    runRecord
		want bool
	}{
		{withSteal(0.20, ""), true},
		{withSteal(0.05, ""), false}, // at the limit
		{withSteal(-1, ""), false},   // not known: nothing to gain
		{withSteal(0.20, "exited"), false},
	} {
		if got := h.stealTooHigh(c.r); got != c.want {
			t.Errorf("stealTooHigh(steal %v, error %q) = %v", c.r.Steal, c.r.Error, got)
		}
	}
	if (&harness{opts: options{maxSteal: 0, stealRetries: 2}}).stealTooHigh(withSteal(0.5, "")) {
		t.Error("-max-steal 0 repeated a run")
	}
	for _, c := range []struct {
		name     string
		r, kept  runRecord
		wantKeep bool
	}{
		{"less steal", withSteal(0.06, ""), withSteal(0.20, ""), true},
		{"more steal", withSteal(0.30, ""), withSteal(0.20, ""), false},
		{"no error beats less steal", withSteal(0.30, ""), withSteal(0.01, "timeout"), true},
		{"an error never replaces a run", withSteal(0.01, "timeout"), withSteal(0.30, ""), false},
		{"unknown steal", withSteal(-1, ""), withSteal(0.20, ""), false},
	} {
		if got := keepAttempt(c.r, c.kept); got != c.wantKeep {
			t.Errorf("%s: keepAttempt = %v", c.name, got)
		}
	}

	r1, r2 := withSteal(0.04, ""), withSteal(0.03, "")
	r1.StealRetries, r2.Round = 2, 1
	cells := aggregate([]runRecord{r1, r2}, nil)
	md := summary(environment{Started: "now"}, cells, nil, nil)
	if !strings.Contains(md, "| 4.0% (2 run(s) again) |") {
		t.Errorf("the steal column does not count the runs measured again:\n%s", md)
	}
}

func TestMaxStealOption(t *testing.T) {
	o, err := parseOptions([]string{"-max-steal", "0.1", "-steal-retries", "3"})
	if err != nil || o.maxSteal != 0.1 || o.stealRetries != 3 {
		t.Fatalf("parseOptions = %v, %v; want max steal 0.1, 3 retries", o.maxSteal, err)
	}
	if !strings.Contains(maxStealSetting(o), "10% (a run above it measured again, up to 3 times") {
		t.Errorf("setting %q", maxStealSetting(o))
	}
	for _, bad := range []string{"1.5", "-0.1", "five"} {
		if _, err := parseOptions([]string{"-max-steal", bad}); err == nil || !strings.Contains(err.Error(), "max-steal") {
			t.Errorf("-max-steal %s: error %v; want one naming max-steal", bad, err)
		}
	}
	o, _ = parseOptions([]string{"-max-steal", "0"})
	if maxStealSetting(o) != "off (no run measured again)" {
		t.Errorf("setting %q with -max-steal 0", maxStealSetting(o))
	}
}
