package main

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

// opsFlags are the data plane's operations flags, shared by `standalone`
// and `dataplane`.
type opsFlags struct {
	accessLog   string
	xdsProtocol string
	drainDelay  time.Duration
}

func (o *opsFlags) register(fs *flag.FlagSet, defaultDrainDelay time.Duration) {
	fs.StringVar(&o.accessLog, "access-log", "stdout",
		`JSON access log, one line per request and TCP connection: "stdout", "stderr", a file path (appended), or "off"`)
	fs.StringVar(&o.xdsProtocol, "xds-protocol", "sotw",
		`xDS transport of the data plane: "sotw" (StreamAggregatedResources) or "delta" (DeltaAggregatedResources)`)
	fs.DurationVar(&o.drainDelay, "drain-delay", defaultDrainDelay,
		"on SIGTERM, how long /ready fails before listeners stop accepting (time for a load balancer to take the instance out)")
}

// dataplaneOps is what the operations flags build.
type dataplaneOps struct {
	metrics   *metrics.Metrics
	accessLog *accesslog.Logger
	xdsOpts   []xdsclient.Option
}

func (o *opsFlags) build() (*dataplaneOps, error) {
	al, err := accesslog.Open(o.accessLog)
	if err != nil {
		return nil, fmt.Errorf("--access-log %q: %w", o.accessLog, err)
	}
	ops := &dataplaneOps{metrics: metrics.New(), accessLog: al}
	switch o.xdsProtocol {
	case "sotw":
	case "delta":
		ops.xdsOpts = append(ops.xdsOpts, xdsclient.WithDelta())
	default:
		return nil, fmt.Errorf("--xds-protocol %q: use sotw or delta", o.xdsProtocol)
	}
	return ops, nil
}

func (d *dataplaneOps) proxyOptions() []proxy.Option {
	return []proxy.Option{proxy.WithMetrics(d.metrics), proxy.WithAccessLog(d.accessLog)}
}

// exposeXDS publishes the xDS client's counters as metrics.
func (d *dataplaneOps) exposeXDS(c *xdsclient.Client) {
	d.metrics.RegisterXDS(func() metrics.XDSStats {
		s := c.Stats()
		return metrics.XDSStats{Connected: s.Connected, Reconnects: s.Reconnects, Accepted: s.AcceptedByType, NACKs: s.NACKsByType}
	})
}

// drainSequence is the SIGTERM order: readiness fails (setDraining), the
// load balancer gets drainDelay to notice, then the proxy stops accepting
// and in-flight requests get until the drain timeout to finish.
func drainSequence(log *slog.Logger, setDraining func(), delay time.Duration) {
	setDraining()
	if delay > 0 {
		log.Info("draining: /ready fails, listeners still accept", "for", delay)
		time.Sleep(delay)
	}
}
