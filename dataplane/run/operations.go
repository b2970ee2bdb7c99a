package run

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/metrics"
	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// OpsFlags are the data plane's operations flags, shared by `standalone`
// and `dataplane`.
type OpsFlags struct {
	accessLog   string
	xdsProtocol string
	// DrainDelay is how long /ready fails on SIGTERM before listeners
	// stop accepting (see DrainSequence).
	DrainDelay time.Duration
}

// Register adds the flags to fs; defaultDrainDelay is the command's
// default --drain-delay (a Pod behind a load balancer wants one, a
// process on a laptop does not).
func (o *OpsFlags) Register(fs *flag.FlagSet, defaultDrainDelay time.Duration) {
	fs.StringVar(&o.accessLog, "access-log", "stdout",
		`JSON access log, one line per request and TCP connection: "stdout", "stderr", a file path (appended), or "off"`)
	fs.StringVar(&o.xdsProtocol, "xds-protocol", "sotw",
		`xDS transport of the data plane: "sotw" (StreamAggregatedResources) or "delta" (DeltaAggregatedResources)`)
	fs.DurationVar(&o.DrainDelay, "drain-delay", defaultDrainDelay,
		"on SIGTERM, how long /ready fails before listeners stop accepting (time for a load balancer to take the instance out)")
}

// Ops is what the operations flags build.
type Ops struct {
	Metrics   *metrics.Metrics
	AccessLog *accesslog.Logger
	// XDSOptions are the xDS client options the flags ask for (the
	// transport); the caller adds its credentials.
	XDSOptions []xdsclient.Option
}

// Build reads the xDS protocol and opens the access log; the caller closes
// AccessLog.
func (o *OpsFlags) Build() (*Ops, error) {
	var xdsOpts []xdsclient.Option
	switch o.xdsProtocol {
	case "sotw":
	case "delta":
		xdsOpts = append(xdsOpts, xdsclient.WithDelta())
	default:
		return nil, fmt.Errorf("--xds-protocol %q: use sotw or delta", o.xdsProtocol)
	}
	al, err := accesslog.Open(o.accessLog)
	if err != nil {
		return nil, fmt.Errorf("--access-log %q: %w", o.accessLog, err)
	}
	return &Ops{Metrics: metrics.New(), AccessLog: al, XDSOptions: xdsOpts}, nil
}

// ProxyOptions are the proxy's metrics and access log.
func (d *Ops) ProxyOptions() []proxy.Option {
	return []proxy.Option{proxy.WithMetrics(d.Metrics), proxy.WithAccessLog(d.AccessLog)}
}

// ExposeXDS publishes the xDS client's counters as metrics.
func (d *Ops) ExposeXDS(c *xdsclient.Client) {
	d.Metrics.RegisterXDS(func() metrics.XDSStats {
		s := c.Stats()
		return metrics.XDSStats{Connected: s.Connected, Reconnects: s.Reconnects, Accepted: s.AcceptedByType, NACKs: s.NACKsByType}
	})
}

// DrainSequence is the SIGTERM order: readiness fails (setDraining), the
// load balancer gets delay to notice, then (after it returns) the caller
// stops the proxy accepting and in-flight requests get until the drain
// timeout to finish.
func DrainSequence(log *slog.Logger, setDraining func(), delay time.Duration) {
	setDraining()
	if delay > 0 {
		log.Info("draining: /ready fails, listeners still accept", "for", delay)
		time.Sleep(delay)
	}
}
