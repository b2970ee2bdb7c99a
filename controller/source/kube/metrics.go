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
	// The parts of a change's way through the controller, so that a slow
	// propagation can be told apart: waiting for the translation loop, or
	// one of its phases.
	translationWaitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgeway_controller_translation_wait_seconds",
		Help:    "Time from the first event that made the cluster's state dirty until the translation that includes it started (debounce, and a translation still running).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	translationPhaseSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "edgeway_controller_translation_phase_seconds",
		Help:    "Time of each phase of a translation: build (the Snapshot from the cache), translate (Gateway API to IR), publish (IR to xDS, every Gateway).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"phase"})
	lastPublished = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgeway_controller_last_publish_timestamp_seconds",
		Help: "Unix time at which the last translation finished publishing every Gateway's xDS.",
	})
	gatewaysServed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgeway_controller_gateways",
		Help: "Gateways of our GatewayClasses with a published xDS node.",
	})
	publishErrors = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "edgeway_controller_publish_errors",
		Help: "Gateways whose latest config the xDS server refused (the previous one stays in force).",
	})
	phaseBuild     = translationPhaseSeconds.WithLabelValues("build")
	phaseTranslate = translationPhaseSeconds.WithLabelValues("translate")
	phasePublish   = translationPhaseSeconds.WithLabelValues("publish")
)

func init() {
	crmetrics.Registry.MustRegister(translationsTotal, translationSeconds, translationWaitSeconds, translationPhaseSeconds,
		lastPublished, gatewaysServed, publishErrors)
}

// passTimes are the instants of one translation, for its metrics.
type passTimes struct {
	firstEvent, start, built, translated, published time.Time
}

func observeTranslation(t passTimes, gateways, errors int) {
	translationsTotal.Inc()
	translationSeconds.Observe(t.published.Sub(t.start).Seconds())
	if !t.firstEvent.IsZero() {
		translationWaitSeconds.Observe(t.start.Sub(t.firstEvent).Seconds())
	}
	phaseBuild.Observe(t.built.Sub(t.start).Seconds())
	phaseTranslate.Observe(t.translated.Sub(t.built).Seconds())
	phasePublish.Observe(t.published.Sub(t.translated).Seconds())
	lastPublished.Set(float64(t.published.UnixNano()) / 1e9)
	gatewaysServed.Set(float64(gateways))
	publishErrors.Set(float64(errors))
}
