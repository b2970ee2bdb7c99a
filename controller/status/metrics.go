package status

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics on controller-runtime's registry (the controller's /metrics):
// a status pass shares the controller's CPU with the next translation, and
// each write is work for the API server, so both are worth seeing.
var (
	statusPassSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgeway_controller_status_pass_duration_seconds",
		Help:    "Time of one status pass: every status we own compared with the latest translation, and the changed ones written.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	statusWritesTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgeway_controller_status_writes_total",
		Help: "Status writes (patches of a status subresource) to the API server.",
	})
	yieldSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgeway_controller_status_yield_seconds_total",
		Help: "Time status passes waited for a running or pending translation before starting or writing (at most 0.5 s per pass).",
	})
)

func init() {
	crmetrics.Registry.MustRegister(statusPassSeconds, statusWritesTotal, yieldSeconds)
}
