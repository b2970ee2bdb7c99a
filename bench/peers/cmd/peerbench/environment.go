package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// environment is what the report says about the machine and the tools.
type environment struct {
	Started    string            `json:"started"`
	Host       string            `json:"host"`
	CPUs       int               `json:"cpus"`
	CPUModel   string            `json:"cpu_model"`
	Kernel     string            `json:"kernel"`
	LoadBefore string            `json:"load_before"`
	LoadAfter  string            `json:"load_after"`
	Versions   map[string]string `json:"versions"`
	TLS        map[string]string `json:"tls"`
	Settings   map[string]string `json:"settings"`
	// RoutesIdleKiB is edgeway standalone's RSS with 1000 routes loaded,
	// before load; DataplaneRoutesIdleKiB the same of edgeway-dataplane, the
	// data plane alone.
	RoutesIdleKiB          int64 `json:"routes_idle_rss_kib,omitempty"`
	DataplaneRoutesIdleKiB int64 `json:"dataplane_routes_idle_rss_kib,omitempty"`
}

func collectEnvironment(o options) environment {
	host, _ := os.Hostname()
	n, _ := onlineCPUs()
	e := environment{
		Started:    time.Now().UTC().Format(time.RFC3339),
		Host:       host,
		CPUs:       n,
		CPUModel:   cpuModel(),
		Kernel:     firstLine(readFileString("/proc/sys/kernel/osrelease")),
		LoadBefore: loadAverage(),
		Versions:   map[string]string{},
		Settings: map[string]string{
			"duration":  o.duration.String(),
			"warmup":    o.warmup.String(),
			"rounds":    fmt.Sprint(o.rounds),
			"proxy CPU": fmt.Sprint(o.proxyCPU),
			"load CPU":  fmt.Sprint(o.loadCPU) + " (load generator and backend)",
			"body":      fmt.Sprintf("%d bytes", o.bodySize),
			"nice":      fmt.Sprint(o.nice),
			"max steal": maxStealSetting(o),
		},
	}
	bin := o.binDir
	for name, argv := range map[string][]string{
		"nginx":             {"nginx", "-v"},
		"haproxy":           {"haproxy", "-v"},
		"caddy":             {"go", "version", "-m", filepath.Join(bin, "caddy")},
		"edgeway":           {filepath.Join(bin, "edgeway"), "version"},
		"edgeway-dataplane": {filepath.Join(bin, "edgeway-dataplane"), "version"},
		"wrk":               {"wrk", "-v"},
		"h2load":            {"h2load", "--version"},
		"openssl":           {"openssl", "version"},
	} {
		out, _ := runQuiet(argv, nil)
		e.Versions[name] = firstLine(out)
		if name == "caddy" { // `caddy version` says "unknown" for a go install build
			for line := range strings.Lines(out) {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" {
					e.Versions[name] = f[1] + " " + f[2]
				}
			}
		}
	}
	e.Versions["go (harness, edgeway, caddy)"] = runtime.Version()
	return e
}

func readFileString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	for line := range strings.Lines(readFileString("/proc/cpuinfo")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAverage() string {
	f := strings.Fields(readFileString("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// onlineCPUs counts the CPUs this process may run on.
func onlineCPUs() (int, error) {
	n := runtime.NumCPU()
	if n < 2 {
		return n, fmt.Errorf("this machine has %d CPU: the benchmark needs 2 (one for the proxy, one for the load generator and backend)", n)
	}
	return n, nil
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// runQuiet runs a short command and returns its combined output.
func runQuiet(argv, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cpuReading is one reading of /proc/stat, around a measured run: the
// machine's line, for the share the hypervisor stole (time a virtual CPU
// was ready to run and the host ran something else; a round with much
// steal measured a proxy that did not get its core, whatever the load
// average says), and the load core's, for how busy it was. Both come from
// the same read, so they describe the same instant.
type cpuReading struct {
	machine, load     cpuTicks
	machineOK, loadOK bool
}

// readCPU reads /proc/stat once; loadCPU is the load generator's and
// backend's CPU (the load-cpu option).
func readCPU(loadCPU int) cpuReading {
	stat := readFileString("/proc/stat")
	var r cpuReading
	r.machine, r.machineOK = procStatCPU(stat, "cpu")
	r.load, r.loadOK = procStatCPU(stat, "cpu"+strconv.Itoa(loadCPU))
	return r
}

// cpuTicks is one line of /proc/stat: busy (user, nice, system, irq,
// softirq), stolen and all of them with idle and iowait (guest time is
// already counted in user and nice).
type cpuTicks struct{ busy, steal, total uint64 }

// procStatCPU parses the line of /proc/stat named name: "cpu" for the
// whole machine, "cpu1" for one CPU.
func procStatCPU(stat, name string) (cpuTicks, bool) {
	var t cpuTicks
	for line := range strings.SplitSeq(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != name {
			continue
		}
		for i, s := range f[1:9] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return cpuTicks{}, false
			}
			t.total += v
			switch i {
			case 0, 1, 2, 5, 6: // user nice system irq softirq
				t.busy += v
			case 7:
				t.steal = v
			}
		}
		return t, true
	}
	return cpuTicks{}, false
}

// busyShare is how busy a CPU was between two readings, of the time it
// ran this guest (stolen time excluded); -1 when either reading failed.
// Near 1 with the proxy's CPU well under 1, the load generator and the
// backend were the limit of the run, not the proxy.
func busyShare(a cpuTicks, okA bool, b cpuTicks, okB bool) float64 {
	ran := (b.total - b.steal) - (a.total - a.steal)
	if !okA || !okB || b.total <= a.total || ran == 0 {
		return -1
	}
	return float64(b.busy-a.busy) / float64(ran)
}

// stealShare is the stolen share of the machine's CPU time between two
// readings, or -1 when either failed.
func stealShare(a cpuTicks, okA bool, b cpuTicks, okB bool) float64 {
	if !okA || !okB || b.total <= a.total {
		return -1
	}
	return float64(b.steal-a.steal) / float64(b.total-a.total)
}

func maxStealSetting(o options) string {
	if o.maxSteal <= 0 || o.stealRetries == 0 {
		return "off (no run measured again)"
	}
	return fmt.Sprintf("%.3g%% (a run above it measured again, up to %d times, the least stolen kept)", o.maxSteal*100, o.stealRetries)
}
