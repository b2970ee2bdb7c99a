package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// settleTime is the pause between the last route served and the steady
// reading: the translations of the burst are over by then.
const settleTime = 5 * time.Second

// serveTimeout bounds the wait until a size's routes are all served.
const serveTimeout = 10 * time.Minute

// measureSize grows the route count from present to n, reads memory and
// CPU, then measures propagation with n routes present.
func measureSize(ctx context.Context, e *env, p *prober, smp *sampler, cfg config, present, n int, log *slog.Logger) (*sizeResult, error) {
	s := &sizeResult{Routes: n, New: n - present}
	phase := fmt.Sprintf("routes-%d", n)
	smp.setPhase(phase, n)
	before := smp.take()
	var names []string
	for i := present; i < n; i++ {
		names = append(names, routeName(prefixScale, i))
	}
	log.Info("creating routes", "new", len(names), "total", n)
	start := time.Now()
	if err := createRoutes(ctx, e.client, names, echoA, cfg.CreateWorkers); err != nil {
		return nil, err
	}
	s.Create = time.Since(start)
	lastServed, err := waitServed(ctx, p, names, echoA, serveTimeout)
	if err != nil {
		return nil, err
	}
	s.Served = lastServed.Sub(start)
	log.Info("routes served", "total", n, "created_in", s.Create.Round(time.Millisecond), "served_after", s.Served.Round(time.Millisecond))
	if cfg.StatusWait > 0 {
		// The samples measure a change among n routes at rest: while the
		// status writer still works off the setup's n statuses (at the
		// controller's API rate limit), its writes and the API server's
		// share the cores with every sample.
		s.StatusWritten, s.StatusWaitTimedOut = waitStatusCurrent(ctx, e.client, n, start, cfg.StatusWait)
		log.Info("route statuses", "total", n, "written_after", s.StatusWritten.Round(time.Second), "timed_out", s.StatusWaitTimedOut)
	}
	sleep(ctx, settleTime)
	s.Steady = smp.take()
	s.SetupCPUController = s.Steady.Controller.CPU - before.Controller.CPU
	s.SetupCPUDataplane = s.Steady.Dataplane.CPU - before.Dataplane.CPU

	ctrlBefore, _ := scrape(ctx, e.controller.ip, controllerAdminPort, metricTranslationSum, metricTranslationCount)
	dpBefore, _ := scrape(ctx, e.dataplane.ip, dataplaneAdminPort, metricConfigSwaps)
	log.Info("measuring propagation", "routes", n, "changes", cfg.Changes)
	var recs []*perfRecording
	if cfg.Perf {
		for who, pid := range map[string]int{"controller": e.controller.pid, "dataplane": e.dataplane.pid} {
			rec, err := startPerf(pid, filepath.Join(cfg.Out, fmt.Sprintf("perf-%s-%d.txt", who, n)))
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
	}
	s.Changes, err = measurePropagation(ctx, e.client, p, breakdownProbe{ctrlAddr: e.controller.ip, ctrlPid: e.controller.pid, dataPid: e.dataplane.pid}, n, cfg.Changes)
	after := smp.take()
	for _, rec := range recs {
		if perr := rec.stop(ctx); perr != nil {
			log.Warn("profile not written", "file", rec.out, "err", perr)
		}
	}
	if len(s.Changes) > 0 {
		k := float64(len(s.Changes))
		s.PropCPUController = (after.Controller.CPU - s.Steady.Controller.CPU) / k
		s.PropCPUDataplane = (after.Dataplane.CPU - s.Steady.Dataplane.CPU) / k
	}
	s.summarize()
	ctrlAfter, errC := scrape(ctx, e.controller.ip, controllerAdminPort, metricTranslationSum, metricTranslationCount, metricHeapInuse)
	dpAfter, errD := scrape(ctx, e.dataplane.ip, dataplaneAdminPort, metricConfigSwaps, metricHeapInuse)
	if errC == nil && ctrlBefore != nil {
		s.Translations = int(ctrlAfter[metricTranslationCount] - ctrlBefore[metricTranslationCount])
		if s.Translations > 0 {
			sec := (ctrlAfter[metricTranslationSum] - ctrlBefore[metricTranslationSum]) / float64(s.Translations)
			s.TranslationMean = time.Duration(sec * float64(time.Second))
		}
		s.HeapController = int64(ctrlAfter[metricHeapInuse])
	} else {
		log.Warn("controller metrics not read", "err", errC)
	}
	if errD == nil && dpBefore != nil {
		s.ConfigSwaps = int(dpAfter[metricConfigSwaps] - dpBefore[metricConfigSwaps])
		s.HeapDataplane = int64(dpAfter[metricHeapInuse])
	} else {
		log.Warn("data plane metrics not read", "err", errD)
	}
	s.PeakController, s.PeakDataplane = smp.peak(phase)
	s.StatusCurrent, _ = statusCurrent(ctx, e.client, prefixScale)
	log.Info("propagation", "routes", n, "p50", s.P50, "p99", s.P99, "max", s.Max, "timed_out", s.TimedOut,
		"controller_rss_mib", int(mib(s.Steady.Controller.RSS)), "dataplane_rss_mib", int(mib(s.Steady.Dataplane.RSS)),
		"translations", s.Translations, "translation_mean", s.TranslationMean)
	return s, err
}

// statusPoll is how often waitStatusCurrent lists the routes: a list of
// 5000 routes is work for the API server on the same cores.
const statusPoll = 2 * time.Second

// waitStatusCurrent waits until the first n scale routes all have their
// status for their current generation, or for at most limit. It returns the
// time from start until it saw them all (or until it gave up), and whether
// it gave up.
func waitStatusCurrent(ctx context.Context, c client.Client, n int, start time.Time, limit time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(limit)
	for {
		if got, err := statusCurrent(ctx, c, prefixScale); err == nil && got >= n {
			return time.Since(start), false
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), true
		}
		sleep(ctx, statusPoll)
	}
}

// statusCurrent counts the routes named with prefix whose status edgeway
// has written for their current generation (Accepted, any status).
func statusCurrent(ctx context.Context, c client.Client, prefix string) (int, error) {
	routes := &gwv1.HTTPRouteList{}
	if err := c.List(ctx, routes, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range routes.Items {
		if len(r.Name) <= len(prefix) || r.Name[:len(prefix)+1] != prefix+"-" {
			continue
		}
		for _, ps := range r.Status.Parents {
			if !isOurs(ps) {
				continue
			}
			if c := meta.FindStatusCondition(ps.Conditions, string(gwv1.RouteConditionAccepted)); c != nil && c.ObservedGeneration == r.Generation {
				n++
			}
		}
	}
	return n, nil
}

// isOurs: the entry edgeway writes for the bench's Gateway (the chart's
// controllerName is the default).
func isOurs(ps gwv1.RouteParentStatus) bool {
	return ps.ParentRef.Name == gatewayName && ps.ControllerName == gwv1.GatewayController(snapshot.DefaultControllerName)
}
