package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/source/kube"
)

// The last stretch of a change's way, seen from the controller: from
// publishing a Gateway's changed xDS until one of its data planes ACKed it
// (delivery, the data plane's decode, compile and swap, and the ACK back).
// With the source's phase metrics it tells where a slow propagation went.
var xdsAppliedSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "edgeway_controller_xds_applied_seconds",
	Help:    "Time from publishing a Gateway's changed xDS until a data plane connected to this replica ACKed every changed type of it.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
})

func init() {
	crmetrics.Registry.MustRegister(xdsAppliedSeconds)
	controllerExtensions = append(controllerExtensions, controllerExtension{setup: func(_ context.Context, c *kubecontroller.Controller, _ *controllerFlags, _ *slog.Logger) error {
		t := newApplyTimer(c.XDS.Acked, xdsAppliedSeconds)
		c.Source.Subscribe(t.published)
		c.XDS.OnAcked(t.acked)
		return nil
	}})
}

// applyTimer pairs each node's published versions with the ACK that
// applies them.
type applyTimer struct {
	ackedVersions func(node string) map[string]string
	observe       prometheus.Observer

	mu   sync.Mutex
	last map[string]map[string]string // node -> type URL -> the last published version
	// waiting: per node, the types changed by the last publish that no
	// ACK has applied yet, and when they were published. A newer publish
	// before the ACK replaces it (its time counts).
	waiting map[string]pendingPublish
}

type pendingPublish struct {
	versions map[string]string // type URL -> version, the changed types only
	at       time.Time
}

func newApplyTimer(acked func(node string) map[string]string, observe prometheus.Observer) *applyTimer {
	return &applyTimer{ackedVersions: acked, observe: observe, last: map[string]map[string]string{}, waiting: map[string]pendingPublish{}}
}

// published is a Source subscriber: it runs right after a translation
// published, on the source's goroutine.
func (t *applyTimer) published(r *kube.Result) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for node, versions := range r.Versions {
		changed := map[string]string{}
		for typ, v := range versions {
			if t.last[node][typ] != v {
				changed[typ] = v
			}
		}
		t.last[node] = versions
		if len(changed) > 0 {
			t.waiting[node] = pendingPublish{versions: changed, at: now}
		}
	}
	for node := range t.last {
		if _, ok := r.Versions[node]; !ok {
			delete(t.last, node)
			delete(t.waiting, node)
		}
	}
}

// acked is the xDS server's ACK observer (on a stream's goroutine).
func (t *applyTimer) acked(node string) {
	now := time.Now()
	got := t.ackedVersions(node)
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.waiting[node]
	if !ok {
		return
	}
	for typ, v := range p.versions {
		if got[typ] != v {
			return
		}
	}
	delete(t.waiting, node)
	t.observe.Observe(now.Sub(p.at).Seconds())
}
