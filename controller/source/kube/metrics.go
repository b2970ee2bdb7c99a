package kube

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics on controller-runtime's registry, which the controller's admin
// endpoint serves at /metrics.
var (
	translationsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgeway_controller_translations_total",
		Help: "Translations of the cluster's state into xDS (one per debounced burst of events).",
	})
	translationSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgeway_controller_translation_duration_seconds",
		Help:    "Time to build a Snapshot from the cache, translate it and publish every Gateway's xDS.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	gatewaysServed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgeway_controller_gateways",
		Help: "Gateways of our GatewayClasses with a published xDS node.",
	})
	publishErrors = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgeway_controller_publish_errors",
		Help: "Gateways whose latest config the xDS server refused (the previous one stays in force).",
	})
)

func init() {
	crmetrics.Registry.MustRegister(translationsTotal, translationSeconds, gatewaysServed, publishErrors)
}

func observeTranslation(d time.Duration, gateways, errors int) {
	translationsTotal.Inc()
	translationSeconds.Observe(d.Seconds())
	gatewaysServed.Set(float64(gateways))
	publishErrors.Set(float64(errors))
}
