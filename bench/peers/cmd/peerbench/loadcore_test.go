package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadGeneratorCPUIsItsOwn: the load generator's CPU time is what its
// process ran, not its wall time. Two stand-in wrks print the same output
// after a third of a second: one spends it computing, the other asleep.
func TestLoadGeneratorCPUIsItsOwn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "taskset"), []byte("#!/bin/sh\nshift 2\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_WRK_OUTPUT", filepath.Join("testdata", "wrk-keepalive.txt"))
	s, _ := scenarioByName("http1")
	for _, tc := range []struct {
		mode     string
		min, max float64 // seconds of CPU
	}{
		{"spin", 0.25, 5},
		{"sleep", 0, 0.15},
	} {
		script := "#!/bin/sh\nexec " + testBinary(t) + " fake-wrk " + tc.mode + "\n"
		if err := os.WriteFile(filepath.Join(dir, "wrk"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		raw, res, err := loadRun{Scenario: s, URL: "http://127.0.0.1:1/", Duration: time.Second}.run(context.Background())
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.mode, err, raw)
		}
		if res.Requests != 59984 {
			t.Fatalf("%s: the stand-in's output was not parsed: %+v", tc.mode, res)
		}
		if res.CPUSeconds < tc.min || res.CPUSeconds > tc.max {
			t.Errorf("a wrk that %ss for a third of a second used %.3f s of CPU, want %.2f-%.2f", tc.mode, res.CPUSeconds, tc.min, tc.max)
		}
	}
}

// fakeWrk is the test binary as a stand-in wrk: a third of a second spent
// computing or asleep, then the output of a real wrk.
func fakeWrk(mode string) {
	switch mode {
	case "spin":
		burnCPU(300 * time.Millisecond)
	default:
		time.Sleep(300 * time.Millisecond)
	}
	out, err := os.ReadFile(os.Getenv("FAKE_WRK_OUTPUT"))
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(out)
}

// ownCPU is this process's CPU time by getrusage: every thread's, user and
// system.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burnCPU computes until this process has spent d more of CPU.
func burnCPU(d time.Duration) {
	for start := ownCPU(); ownCPU()-start < d; {
	}
}

// TestCPUTimeAgreesWithGetrusage: the backend's CPU time, read from its
// threads' schedstat files, grows as the kernel's own accounting of the
// process does.
func TestCPUTimeAgreesWithGetrusage(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ru0 := ownCPU()
	burnCPU(200 * time.Millisecond)
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ran := ownCPU() - ru0
	if got := after - before; got < ran*8/10 || got > ran*12/10+20*time.Millisecond {
		t.Errorf("schedstat says %v of CPU, getrusage %v", got, ran)
	}
	if _, err := cpuTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// TestLoadCoreCostInTheReport: the load generator's and backend's CPU per
// request are aggregated, tabled with their ratio to the best peer's, and
// named in the verdict of a row the load core limited.
func TestLoadCoreCostInTheReport(t *testing.T) {
	costed := func(target string, round int, rps, cpu, wrkUs, backendUs float64) runRecord {
		r := rec("tls-newconn", target, round, rps, 10, cpu)
		busy := 1.0
		r.LoadCoreBusy = &busy
		r.LoadGenCPU, r.BackendCPU = &wrkUs, &backendUs
		return r
	}
	records := []runRecord{
		costed("nginx", 0, 4000, 0.9, 200, 40),
		costed(edgewayName, 0, 3700, 0.8, 220, 41),
		costed("nginx", 1, 4100, 0.9, 196, 42),
		costed(edgewayName, 1, 3750, 0.8, 216, 43),
		costed("nginx", 2, 4050, 0.9, 198, 38),
		costed(edgewayName, 2, 3720, 0.8, 218, 45),
		rec("http1", "nginx", 0, 20000, 4, 1), // results from before the fields
	}
	cells := aggregate(records, map[string]bool{"nginx": true})
	if c := cells[1]; c.LoadGenCPU != 218 || c.BackendCPU != 43 || c.loadCoreCPU() != 261 {
		t.Fatalf("edgeway's cell: load generator %v, backend %v; want the medians 218 and 43", c.LoadGenCPU, c.BackendCPU)
	}
	if c := cells[2]; c.LoadGenCPU != -1 || c.loadCoreCPU() != 0 {
		t.Fatalf("a record without the fields: %+v, want unknown", c)
	}
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"tls-newconn", "http1"}), nil)
	summaryHas(t, md,
		"## What the load core spent per request",
		"| tls-newconn | nginx | 198.00 | 40.00 | 238.00 | 1.00 | 100.0% |",
		"| tls-newconn | edgeway | 218.00 | 43.00 | 261.00 | 1.10 | 100.0% * |",
		"the load generator and the backend spent 261.0 µs a request behind edgeway, 238.0 behind nginx",
	)
	if strings.Contains(md, "| http1 | nginx | -1") {
		t.Errorf("a row without the figures is in the table:\n%s", md)
	}
}
