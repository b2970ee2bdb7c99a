package main

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestPerfStatCount(t *testing.T) {
	const out = "# started on Mon Nov 23 05:49:55 2026\n\n4093,,sched:sched_waking,4001229551,100.00,,\n97573,,syscalls:sys_enter_write,4001229551,100.00,,\n"
	if n, ok := perfStatCount(out, wakeEvent); !ok || n != 4093 {
		t.Fatalf("perfStatCount = %d, %v; want 4093, true", n, ok)
	}
	for _, bad := range []string{
		"<not counted>,,sched:sched_waking,0,100.00,,\n", // the process never ran
		"<not supported>,,sched:sched_waking,0,100.00,,\n",
		"97573,,syscalls:sys_enter_write,4001229551,100.00,,\n", // another event
		"",
	} {
		if n, ok := perfStatCount(bad, wakeEvent); ok {
			t.Errorf("perfStatCount(%q) = %d, true; want not known", bad, n)
		}
	}
	per := func(v float64) *float64 { return &v }
	r1, r2, r3 := rec("h2", edgewayName, 0, 20000, 9, 0.9), rec("h2", edgewayName, 1, 20000, 9, 0.9), rec("h2", edgewayName, 2, 20000, 9, 0.9)
	r1.ProxyWakes, r2.ProxyWakes, r3.ProxyWakes = per(0.3), per(0.08), per(0.09)
	old := rec("h2", "haproxy", 0, 25000, 5, 0.97) // results.json from before: no field
	cells := aggregate([]runRecord{old, r1, r2, r3}, map[string]bool{"haproxy": true})
	if cells[1].Wakes != 0.09 || cells[0].Wakes != -1 {
		t.Fatalf("cells' wakes: haproxy %v, edgeway %v; want -1 (not known) and the median 0.09", cells[0].Wakes, cells[1].Wakes)
	}
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"h2"}), nil)
	summaryHas(t, md, "| h2 | edgeway | 20000 | 2.250 | 9.000 | 0.90 | 22222 | ? | 0.09 |", "| h2 | haproxy | 25000 | 1.250 | 5.000 | 0.97 | 25773 | ? | ? |")
}

// TestWakesAreCounted attaches the counter to this test's process while it
// wakes a child asleep on a pipe read a hundred times. Where perf is not
// installed (CI's machines), the figure must come out as not known instead.
func TestWakesAreCounted(t *testing.T) {
	_, perfErr := exec.LookPath("perf")
	w := startWakeCount(os.Getpid(), t.TempDir())
	if perfErr != nil {
		if w != nil {
			t.Fatal("startWakeCount without perf: want nil")
		}
		if _, ok := w.stop(); ok {
			t.Fatal("stop of a nil counter: want not known")
		}
		return
	}
	if w == nil {
		t.Fatal("startWakeCount with perf installed: want a counter")
	}
	child := exec.Command("cat")
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stdout = io.Discard
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		time.Sleep(2 * time.Millisecond) // cat is back in its read, asleep
		if _, err := in.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	child.Wait()
	n, ok := w.stop()
	if !ok {
		if os.Geteuid() != 0 {
			return // perf may not read tracepoints without privileges: not known is right
		}
		t.Fatal("perf stat as root counted nothing: want the wake-ups")
	}
	t.Logf("%d wake-ups counted for 100 writes", n)
	if n < 50 {
		t.Fatalf("counted %d wake-ups for 100 writes to a sleeping reader; want at least 50", n)
	}

}
