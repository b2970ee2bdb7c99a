package sysmon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests run this test binary again as a helper process (helperEnv):
// Steady executes it once more, and the helper reports what it then is.
const helperEnv = "EDGEWAY_SYSMON_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "report":
		reportAfterSteady()
	case "idle":
		countSwitchesWhileIdle()
	}
	os.Exit(0)
}

// reportAfterSteady prints the helper's PID and GODEBUG once Steady has
// executed it again: exec keeps the PID, so it is the one the test started.
func reportAfterSteady() {
	if err := Steady(); err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Printf("pid=%d godebug=%s\n", os.Getpid(), os.Getenv("GODEBUG"))
}

// countSwitchesWhileIdle prints how many times the process's threads were
// switched out while it slept a second with nothing else to do, at GOMAXPROCS
// 1 as the data plane is measured.
func countSwitchesWhileIdle() {
	if err := Steady(); err != nil {
		fmt.Println("error", err)
		return
	}
	runtime.GOMAXPROCS(1)
	time.Sleep(100 * time.Millisecond) // sysmon's 20 µs start is over
	before, err := contextSwitches()
	if err != nil {
		fmt.Println("error", err)
		return
	}
	time.Sleep(time.Second)
	after, err := contextSwitches()
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Printf("switches=%d\n", after-before)
}

// contextSwitches sums the voluntary context switches of every thread of
// the process: sysmon's sleeps between its ticks are voluntary, while
// involuntary switches count the other processes a loaded machine runs
// (under make test's parallel packages they lifted the idle count without
// sysmon's tick to 70 a second, against 5-40 alone).
func contextSwitches() (int, error) {
	files, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("listing the threads: %v (%d found)", err, len(files))
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && k == "voluntary_ctxt_switches" {
				c, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					return 0, fmt.Errorf("%s: %q: %v", f, line, err)
				}
				n += c
			}
		}
	}
	return n, nil
}

// runHelper runs this test binary as the helper mode with GODEBUG set to
// godebug (unset when "-"), and returns its output and PID.
func runHelper(t *testing.T, mode, godebug string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	env = append(env, helperEnv+"="+mode)
	if godebug != "-" {
		env = append(env, "GODEBUG="+godebug)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s (GODEBUG %q): %v\n%s", mode, godebug, err, out)
	}
	if strings.Contains(string(out), "error") {
		t.Fatalf("helper %s (GODEBUG %q) failed:\n%s", mode, godebug, out)
	}
	return strings.TrimSpace(string(out)), cmd.Process.Pid
}

func TestGodebugWith(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string // nil: nothing to do
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + setting}},
		{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + setting, "A=1"}},
		{"others kept", []string{"GODEBUG=http2debug=1,gctrace=1"}, []string{"GODEBUG=http2debug=1,gctrace=1," + setting}},
		{"operator's schedtrace", []string{"GODEBUG=gctrace=1,schedtrace=0"}, nil},
		{"a spaced schedtrace the runtime ignores", []string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000," + setting}},
		{"a name that only ends so", []string{"GODEBUG=xschedtrace=1"}, []string{"GODEBUG=xschedtrace=1," + setting}},
		{"second GODEBUG dropped", []string{"GODEBUG=gctrace=1", "GODEBUG=schedtrace=0"}, []string{"GODEBUG=gctrace=1," + setting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := godebugWith(tc.env)
			if tc.want == nil {
				if ok {
					t.Fatalf("godebugWith(%q) = %q, want nothing to do", tc.env, got)
				}
				return
			}
			if !ok || !slices.Equal(got, tc.want) {
				t.Fatalf("godebugWith(%q) = %q, %v; want %q", tc.env, got, ok, tc.want)
			}
		})
	}
}

// Steady executes the program once more, in the same process, with the
// setting added to what the operator's GODEBUG has; an operator's
// schedtrace stops it.
func TestSteadyExecutesItselfOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Steady executes itself on Linux only")
	}
	for _, tc := range []struct {
		godebug, want string
	}{
		{"-", setting},
		{"gctrace=0", "gctrace=0," + setting},
		{"schedtrace=0", "schedtrace=0"},
	} {
		out, pid := runHelper(t, "report", tc.godebug)
		if want := fmt.Sprintf("pid=%d godebug=%s", pid, tc.want); out != want {
			t.Errorf("GODEBUG %q: the helper reported %q, want %q", tc.godebug, out, want)
		}
	}
}

// What Steady relies on, and what a Go upgrade could take away: with
// schedtrace set, an idle process's sysmon stays on its 10 ms tick (about
// 100 switches in a second) instead of sleeping until the next timer (3-30
// measured, the main thread's included). Were
// it no longer so, the setting would only cost; this test then fails, and
// package sysmon should go (or find the runtime's new way).
func TestSchedtraceKeepsSysmonOnItsTick(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts switches in /proc")
	}
	count := func(godebug string) int {
		out, _ := runHelper(t, "idle", godebug)
		n, err := strconv.Atoi(strings.TrimPrefix(out, "switches="))
		if err != nil {
			t.Fatalf("helper output %q: %v", out, err)
		}
		return n
	}
	deep := count("schedtrace=0")
	steady := count("-")
	t.Logf("context switches in a second idle: %d with sysmon's deep sleep, %d with Steady", deep, steady)
	// Not 100: on a loaded machine each 10 ms sleep ends late, by however
	// long the thread waits for a CPU. Without the tick it is 3-30.
	if steady < 50 || steady < deep+30 {
		t.Fatalf("with Steady's setting the idle process switched %d times in a second, without it %d: "+
			"the runtime no longer keeps sysmon on its tick with schedtrace set (%s)", steady, deep, runtime.Version())
	}
}
