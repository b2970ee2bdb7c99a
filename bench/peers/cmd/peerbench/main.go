// Command peerbench is the driver of `make bench-peers` (bench/peers/run.sh):
// edgeway's data plane against nginx, HAProxy and Caddy, each configured
// the same way, each pinned to one CPU with the load generator and the
// backend on the other, in one interleaved run. It writes the raw output of
// every run, results.json and summary.md under -out/<timestamp>/.
// README.md in bench/peers explains what is measured and how it is kept fair.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	binDir      string
	outDir      string
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	proxyCPU    int
	loadCPU     int
	portBase    int
	proxies     []string
	scenarios   []string
	routes      bool
	pprofBinary string
	bodySize    int
	nice        int
	summarize   string
	tally       bool
	tallyDirs   []string
	// maxSteal and stealRetries: a measured run during which the host
	// stole more of the CPU is measured again, up to stealRetries times.
	maxSteal     float64
	stealRetries int
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.StringVar(&o.binDir, "bin", ".cache/bin", "directory with edgeway, peer-backend and caddy")
	fs.StringVar(&o.outDir, "out", "bench/results/peers", "results directory; each run writes <out>/<UTC timestamp>/")
	dur := fs.String("duration", envOr("BENCH_DURATION", "10s"), "measured time per run (env BENCH_DURATION; 5s for a quick look, 30s for the long setting)")
	warm := fs.String("warmup", envOr("BENCH_WARMUP", "1s"), "unmeasured load before each run (env BENCH_WARMUP)")
	rounds := fs.String("rounds", envOr("BENCH_ROUNDS", "3"), "runs per scenario and target, in rotating order; the report takes the median (env BENCH_ROUNDS; 1 for a quick look, whose ratios are not to be trusted)")
	proxyCPU := fs.String("proxy-cpu", envOr("BENCH_PROXY_CPU", "0"), "CPU the proxy under test is pinned to (env BENCH_PROXY_CPU)")
	loadCPU := fs.String("load-cpu", envOr("BENCH_LOAD_CPU", "1"), "CPU of the load generator and the backend (env BENCH_LOAD_CPU)")
	portBase := fs.String("port-base", envOr("BENCH_PORT_BASE", "28000"), "first of the 127.0.0.1 ports used: base+1..5 the backend, base+100*n.. proxy n (env BENCH_PORT_BASE)")
	proxies := fs.String("proxies", envOr("BENCH_PROXIES", "nginx,haproxy,caddy,edgeway"), "proxies to run (env BENCH_PROXIES)")
	scen := fs.String("scenarios", envOr("BENCH_SCENARIOS", "http1,tls,passthrough,split,h2,tls-newconn"), "scenarios to run (env BENCH_SCENARIOS)")
	routes := fs.String("routes", envOr("BENCH_ROUTES", "1"), "1: also run edgeway with 1000 routes for its RSS (env BENCH_ROUTES)")
	fs.StringVar(&o.pprofBinary, "edgeway-pprof", envOr("BENCH_PPROF_BINARY", ""), "edgeway-dataplane built with the pprof overlay: profile every scenario with it after the measured runs (empty: no profiles)")
	fs.IntVar(&o.bodySize, "body-size", 64, "bytes in every backend response body")
	fs.StringVar(&o.summarize, "summarize", "", "only rewrite DIR/summary.md from DIR/results.json (after a change to the report)")
	fs.BoolVar(&o.tally, "tally", false, "only print edgeway against the best peer over the runs whose directories follow the flags, side by side and by scenario")
	nice := fs.String("nice", envOr("BENCH_NICE", "0"), "niceness of every benchmark process, e.g. -10 to take precedence over other work on a shared machine (env BENCH_NICE; 0: unchanged)")
	maxSteal := fs.String("max-steal", envOr("BENCH_MAX_STEAL", "0.05"), "share of the machine's CPU the host may steal during a measured run before it is measured again (env BENCH_MAX_STEAL; 0: never)")
	stealRetries := fs.String("steal-retries", envOr("BENCH_STEAL_RETRIES", "2"), "how often a run is measured again for the host's steal; the attempt with the least is kept (env BENCH_STEAL_RETRIES)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.tallyDirs = fs.Args()
	if len(o.tallyDirs) > 0 && !o.tally {
		return o, fmt.Errorf("unexpected arguments %q (results directories go after -tally)", o.tallyDirs)
	}
	var errs []error
	parseDur := func(name, v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a duration such as 5s", name, v))
		}
		return d
	}
	parseInt := func(name, v string) int {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a non-negative integer", name, v))
		}
		return n
	}
	o.duration = parseDur("duration", *dur)
	o.warmup = parseDur("warmup", *warm)
	o.rounds = max(1, parseInt("rounds", *rounds))
	o.proxyCPU = parseInt("proxy-cpu", *proxyCPU)
	o.loadCPU = parseInt("load-cpu", *loadCPU)
	o.portBase = parseInt("port-base", *portBase)
	o.routes = *routes == "1"
	o.stealRetries = parseInt("steal-retries", *stealRetries)
	if f, err := strconv.ParseFloat(*maxSteal, 64); err != nil || f < 0 || f >= 1 {
		errs = append(errs, fmt.Errorf("max-steal %q: want a share such as 0.05 (0: never measure again)", *maxSteal))
	} else {
		o.maxSteal = f
	}
	if n, err := strconv.Atoi(*nice); err != nil || n < -20 || n > 19 {
		errs = append(errs, fmt.Errorf("nice %q: want -20..19", *nice))
	} else {
		o.nice = n
	}
	if o.duration < time.Second {
		errs = append(errs, fmt.Errorf("duration %s: the load generators count whole seconds, use at least 1s", o.duration))
	}
	if o.proxyCPU == o.loadCPU {
		errs = append(errs, fmt.Errorf("proxy-cpu and load-cpu are both %d: the proxy needs a CPU of its own", o.proxyCPU))
	}
	for _, p := range splitList(*proxies) {
		if _, ok := proxyNumber[p]; !ok {
			errs = append(errs, fmt.Errorf("proxies: unknown %q (nginx, haproxy, caddy, edgeway, edgeway-standalone)", p))
		}
		o.proxies = append(o.proxies, p)
	}
	for _, s := range splitList(*scen) {
		if _, ok := scenarioByName(s); !ok {
			errs = append(errs, fmt.Errorf("scenarios: unknown %q", s))
		}
		o.scenarios = append(o.scenarios, s)
	}
	return o, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// proxyNumber is each proxy's port block (planProxy).
var proxyNumber = map[string]int{"nginx": 1, "haproxy": 2, "caddy": 3, edgewayName: 4, edgeway1kName: 5, pprofName: 6, pprofRoutesName: 7, edgewayDP1kName: 8, edgewayStandaloneName: 9}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "connprobe" {
		// The new-connection probe's own process (connprobe.go).
		if err := runConnProbe(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.tally {
		if err := tally(o.tallyDirs); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(1)
		}
		return
	}
	if o.summarize != "" {
		if err := resummarize(o.summarize); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(1)
		}
		return
	}
	niceness = o.nice
	h := &harness{opts: o}
	err = h.run(ctx)
	h.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

// target is what the load goes to: the backend itself (the baseline) or a
// proxy in front of it.
type target struct {
	Name  string
	Peer  bool
	Ports ports
	proc  *proc
	// Skip: scenarios it cannot run, and why.
	Skip map[string]string
}

type harness struct {
	opts    options
	resDir  string // bench/results/peers/<timestamp>
	workDir string // generated configurations, keys, logs
	cert    certFiles
	backend backendPorts
	// backendProc is the backend's process, for its CPU time per request.
	backendProc *proc
	procs       []*proc
	targets     []*target
	records     []runRecord
	env         environment
	profiles    []profileRecord
}

func (h *harness) stopAll() {
	for _, p := range slices.Backward(h.procs) {
		p.stop()
	}
}

func (h *harness) run(ctx context.Context) error {
	o := h.opts
	h.resDir = filepath.Join(o.outDir, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(filepath.Join(h.resDir, "raw"), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "peerbench-")
	if err != nil {
		return err
	}
	h.workDir = work
	fmt.Printf("peerbench: results in %s, configurations and logs in %s\n", h.resDir, work)
	if err := h.checkMachine(); err != nil {
		return err
	}
	h.env = collectEnvironment(o)
	h.backend = planBackend(o.portBase)
	if err := h.checkPortsFree(); err != nil {
		return err
	}
	if h.cert, err = writeCert(work); err != nil {
		return err
	}
	if err := h.startBackend(); err != nil {
		return err
	}
	h.targets = append(h.targets, &target{Name: baselineName, Ports: planBaseline(h.backend)})
	for _, name := range o.proxies {
		t, err := h.startProxy(name, proxyNumber[name], 0)
		if err != nil {
			return err
		}
		h.targets = append(h.targets, t)
	}
	for _, t := range h.targets {
		if err := waitReady(t.proc, probesFor(t.Ports, t.Skip, ""), o.bodySize, 60*time.Second); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	h.recordTLSParams()
	fmt.Printf("peerbench: %d targets ready; %d scenarios x %d round(s) x %s (+%s warm-up) each\n",
		len(h.targets), len(o.scenarios), o.rounds, o.duration, o.warmup)

	for _, name := range o.scenarios {
		s, _ := scenarioByName(name)
		for round := range o.rounds {
			for _, t := range rotate(h.targets, round) {
				if err := ctx.Err(); err != nil {
					return err
				}
				h.measure(ctx, s, t, round)
			}
		}
	}
	if o.routes && slices.Contains(o.proxies, edgewayName) {
		if err := h.measureRoutes(ctx); err != nil {
			return err
		}
	}
	if o.pprofBinary != "" {
		if err := h.profileEdgeway(ctx); err != nil {
			return err
		}
	}
	h.env.LoadAfter = loadAverage()
	return h.writeResults()
}

// rotate starts the order at round: over the rounds every target runs at
// every position, so drift in the machine's load does not favour one.
func rotate(ts []*target, round int) []*target {
	n := len(ts)
	out := make([]*target, 0, n)
	for i := range n {
		out = append(out, ts[(i+round)%n])
	}
	return out
}

func (h *harness) checkMachine() error {
	n, err := onlineCPUs()
	if err != nil {
		return err
	}
	for _, c := range []int{h.opts.proxyCPU, h.opts.loadCPU} {
		if c >= n {
			return fmt.Errorf("CPU %d does not exist: this machine has %d (set BENCH_PROXY_CPU / BENCH_LOAD_CPU)", c, n)
		}
	}
	for _, tool := range []string{"taskset", "wrk", "h2load", "openssl", "nginx", "haproxy"} {
		if slices.Contains([]string{"nginx", "haproxy"}, tool) && !slices.Contains(h.opts.proxies, tool) {
			continue
		}
		if _, err := lookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: run `make bench-peers` (bench/peers/run.sh installs it) or apt-get install it", tool)
		}
	}
	return nil
}

// checkPortsFree fails early, naming the port, when something else
// listens where a target will.
func (h *harness) checkPortsFree() error {
	used := []int{h.backend.A, h.backend.B, h.backend.TLS, h.backend.H2, h.backend.Stats}
	for _, n := range proxyNumber {
		p := planProxy(h.opts.portBase, n)
		used = append(used, p.HTTP, p.Split, p.TLS, p.Pass, p.Admin, p.XDS, p.Pprof)
	}
	for _, port := range used {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("127.0.0.1:%d is taken (%v): stop what uses it or pick other ports with BENCH_PORT_BASE", port, err)
		}
		l.Close()
	}
	return nil
}

func (h *harness) startBackend() error {
	be := h.backend
	p, err := startPinned("backend", h.opts.loadCPU, []string{"GOMAXPROCS=1"}, filepath.Join(h.workDir, "backend.log"),
		filepath.Join(h.opts.binDir, "peer-backend"),
		"-http", fmt.Sprintf("a=127.0.0.1:%d", be.A), "-http", fmt.Sprintf("b=127.0.0.1:%d", be.B),
		"-https", fmt.Sprintf("tls=127.0.0.1:%d", be.TLS), "-h2", fmt.Sprintf("h2=127.0.0.1:%d", be.H2),
		"-stats", fmt.Sprintf("127.0.0.1:%d", be.Stats), "-cert", h.cert.Cert, "-key", h.cert.Key,
		"-body-size", strconv.Itoa(h.opts.bodySize))
	if err != nil {
		return err
	}
	h.backendProc = p
	h.procs = append(h.procs, p)
	return nil
}

// startProxy writes a proxy's configuration, checks it with the proxy's
// own validator where it has one, and starts it pinned to the proxy CPU.
func (h *harness) startProxy(name string, n, routes int) (*target, error) {
	p := planProxy(h.opts.portBase, n)
	dir := filepath.Join(h.workDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bin := h.opts.binDir
	goEnv := []string{"GOMAXPROCS=1", "HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	var argv, check, env []string
	switch name {
	case "nginx":
		conf, err := writeNginx(dir, p, h.backend, h.cert)
		if err != nil {
			return nil, err
		}
		check = []string{"nginx", "-t", "-q", "-p", dir + "/", "-e", dir + "/nginx-error.log", "-c", conf}
		argv = []string{"nginx", "-p", dir + "/", "-e", dir + "/nginx-error.log", "-c", conf}
	case "haproxy":
		conf, err := writeHAProxy(dir, p, h.backend, h.cert)
		if err != nil {
			return nil, err
		}
		check = []string{"haproxy", "-c", "-q", "-f", conf}
		argv = []string{"haproxy", "-db", "-f", conf}
	case "caddy":
		conf, err := writeCaddy(dir, p, h.backend, h.cert)
		if err != nil {
			return nil, err
		}
		caddy := filepath.Join(bin, "caddy")
		check = []string{caddy, "validate", "--config", conf, "--adapter", "caddyfile"}
		argv = []string{caddy, "run", "--config", conf, "--adapter", "caddyfile"}
		env = goEnv
	case edgewayName, edgewayDP1kName, pprofName, pprofRoutesName:
		// edgeway's data plane as a Kubernetes Gateway's pods run it
		// (cmd/edgeway-dataplane), its controller in another process.
		confDir, err := writeEdgeway(filepath.Join(dir, "config"), p, h.backend, h.cert, routes)
		if err != nil {
			return nil, err
		}
		// The control plane: idle once it has served the configuration,
		// pinned with the load generator so that the proxy's core is the
		// data plane's alone.
		xdsProc, err := startPinned(name+"-xds", h.opts.loadCPU, nil, filepath.Join(dir, "peer-xds.log"),
			filepath.Join(bin, "peer-xds"), "-config-dir", confDir, "-xds-address", fmt.Sprintf("127.0.0.1:%d", p.XDS))
		if err != nil {
			return nil, err
		}
		h.procs = append(h.procs, xdsProc)
		binary := filepath.Join(bin, "edgeway-dataplane")
		env = goEnv
		if name == pprofName || name == pprofRoutesName {
			binary = h.opts.pprofBinary
			env = append(env, fmt.Sprintf("EDGEWAY_BENCH_PPROF=127.0.0.1:%d", p.Pprof))
		}
		argv = []string{binary, "--xds-server", fmt.Sprintf("127.0.0.1:%d", p.XDS),
			"--admin-address", fmt.Sprintf("127.0.0.1:%d", p.Admin), "--access-log", "off"}
	case edgewayStandaloneName, edgeway1kName:
		// edgeway standalone: controller and data plane in one process.
		confDir, err := writeEdgeway(filepath.Join(dir, "config"), p, h.backend, h.cert, routes)
		if err != nil {
			return nil, err
		}
		binary := filepath.Join(bin, "edgeway")
		env = goEnv
		argv = []string{binary, "standalone", "--config-dir", confDir,
			"--xds-address", fmt.Sprintf("127.0.0.1:%d", p.XDS), "--admin-address", fmt.Sprintf("127.0.0.1:%d", p.Admin),
			"--access-log", "off", "--state-dir", filepath.Join(dir, "state")}
	default:
		return nil, fmt.Errorf("unknown proxy %q", name)
	}
	if check != nil {
		if out, err := runQuiet(check, env); err != nil {
			return nil, fmt.Errorf("%s refuses its generated configuration (%s): %v\n%s", name, strings.Join(check, " "), err, out)
		}
	}
	pr, err := startPinned(name, h.opts.proxyCPU, env, filepath.Join(dir, name+".log"), argv...)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, pr)
	return &target{Name: name, Peer: !strings.HasPrefix(name, edgewayName), Ports: p, proc: pr, Skip: unsupported[name]}, nil
}

// recordTLSParams notes what an OpenSSL client negotiates with every TLS
// port, so that the report shows the TLS work is the same.
func (h *harness) recordTLSParams() {
	h.env.TLS = map[string]string{}
	for _, t := range h.targets {
		h.env.TLS[t.Name+" tls"] = tlsParams(t.Ports.TLS, "http/1.1")
		h.env.TLS[t.Name+" h2"] = tlsParams(t.Ports.H2, "h2")
		if _, skip := t.Skip["passthrough"]; !skip {
			h.env.TLS[t.Name+" passthrough"] = tlsParams(t.Ports.Pass, "http/1.1")
		}
	}
}
