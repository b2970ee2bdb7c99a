package main

import "fmt"

// ports are the loopback ports of one target. A proxy listens on all of
// them; the baseline points them at the backend itself.
type ports struct {
	HTTP  int // plain HTTP/1.1, one backend
	Split int // plain HTTP/1.1, 90/10 over backends a and b
	TLS   int // HTTPS (TLS terminated, ALPN h2 and http/1.1), one backend
	H2    int // where the HTTP/2 scenario connects: the TLS port, except for the baseline
	Pass  int // TLS passthrough by SNI to the TLS backend
	Admin int // edgeway's admin endpoint (0: none)
	XDS   int // edgeway's in-process xDS server (0: none)
	Pprof int // the profiling build's pprof endpoint (0: none)
}

// backendPorts are the backend's listeners.
type backendPorts struct {
	A, B  int // plain HTTP/1.1
	TLS   int // HTTP/1.1 over TLS (passthrough target and TLS baseline)
	H2    int // HTTP/2 over TLS (HTTP/2 baseline)
	Stats int
}

func planBackend(base int) backendPorts {
	return backendPorts{A: base + 1, B: base + 2, TLS: base + 3, H2: base + 4, Stats: base + 5}
}

// planProxy gives proxy number n (1, 2, ...) its own block of ports, so
// that every proxy runs at once and runs interleave.
func planProxy(base, n int) ports {
	b := base + 100*n
	return ports{HTTP: b, Split: b + 1, TLS: b + 2, H2: b + 2, Pass: b + 3, Admin: b + 10, XDS: b + 11, Pprof: b + 12}
}

func planBaseline(be backendPorts) ports {
	return ports{HTTP: be.A, Split: be.A, TLS: be.TLS, H2: be.H2, Pass: be.TLS}
}

// serverName is the SNI and certificate name of every TLS scenario: it
// resolves to 127.0.0.1 from /etc/hosts, and wrk sends the URL's host as SNI.
const serverName = "localhost"

// scenario is one row of the report.
type scenario struct {
	Name  string
	Title string
	Tool  string // "wrk" or "h2load"
	// Conns is the number of connections; Streams the concurrent streams per
	// connection (h2load -m). Concurrency is Conns*Streams.
	Conns, Streams int
	Headers        []string
	// URL is where the load goes for a target.
	URL func(p ports) string
	// Host, when set, is the Host header (the 1000-route run).
	Host string
	// ProbeNewConns: the new-connection probe (connprobe.go) runs beside
	// the load generator in the measured runs.
	ProbeNewConns bool
}

var scenarios = []scenario{
	{
		Name: "http1", Title: "HTTP/1.1 keep-alive", Tool: "wrk", Conns: 64,
		URL: func(p ports) string { return fmt.Sprintf("http://127.0.0.1:%d/", p.HTTP) },
	},
	{
		Name: "tls", Title: "TLS termination (ECDSA P-256), HTTP/1.1 keep-alive", Tool: "wrk", Conns: 64,
		URL: func(p ports) string { return fmt.Sprintf("https://%s:%d/", serverName, p.TLS) },
	},
	{
		Name: "passthrough", Title: "TLS passthrough by SNI, HTTP/1.1 keep-alive", Tool: "wrk", Conns: 64,
		URL: func(p ports) string { return fmt.Sprintf("https://%s:%d/", serverName, p.Pass) },
	},
	{
		Name: "split", Title: "90/10 weighted split, HTTP/1.1 keep-alive", Tool: "wrk", Conns: 64,
		URL: func(p ports) string { return fmt.Sprintf("http://127.0.0.1:%d/", p.Split) },
	},
	{
		Name: "h2", Title: "HTTP/2 over TLS to the proxy (8 connections x 8 streams)", Tool: "h2load", Conns: 8, Streams: 8,
		URL: func(p ports) string { return fmt.Sprintf("https://%s:%d/", serverName, p.H2) },
	},
	{
		Name: "tls-newconn", Title: "new TLS connection per request (Connection: close)", Tool: "wrk", Conns: 64,
		Headers:       []string{"Connection: close"},
		URL:           func(p ports) string { return fmt.Sprintf("https://%s:%d/", serverName, p.TLS) },
		ProbeNewConns: true,
	},
}

func scenarioByName(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// Target names.
const (
	baselineName = "baseline"
	// edgewayName is edgeway's data plane (cmd/edgeway-dataplane), as a
	// Kubernetes Gateway's pods run it: its configuration comes from
	// peer-xds (bench/peers/xdsonly), the controller's translation and
	// xDS server in another process, pinned with the load generator.
	edgewayName = "edgeway"
	// edgewayStandaloneName is `edgeway standalone`, the controller and
	// the data plane in one process (only when BENCH_PROXIES names it).
	edgewayStandaloneName = "edgeway-standalone"
	// edgeway1kName is edgeway standalone with 1000 routes.
	edgeway1kName = "edgeway-1000-routes"
	// edgewayDP1kName is the data plane alone (cmd/edgeway-dataplane) with
	// 1000 routes, its configuration from peer-xds (bench/peers/xdsonly) in
	// another process.
	edgewayDP1kName = "edgeway-dataplane-1000-routes"
)

// unsupported says which peer cannot run which scenario, and why: the
// report shows the reason instead of a number.
var unsupported = map[string]map[string]string{
	"caddy": {"passthrough": "standard Caddy has no TLS passthrough (it needs the third-party layer4 module, not in the release build)"},
}

// routeCount is the size of the route table of the RSS target (issue 7:
// RSS under 64 MiB at 1000 routes).
const routeCount = 1000

// routeHost is the hostname of generated route i.
func routeHost(i int) string { return fmt.Sprintf("r%04d.bench.test", i) }
