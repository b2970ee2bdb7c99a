package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// sample is one reading of both processes.
type sample struct {
	At         time.Duration // since the sampler started
	Phase      string
	Routes     int // routes of the size being measured
	Controller procUsage
	Dataplane  procUsage
}

// sampler reads the controller's and the data plane's memory and CPU once
// a second, labelled with the phase the run is in, for resources.csv and
// the phases' peaks.
type sampler struct {
	controllerPID, dataplanePID int
	start                       time.Time

	mu      sync.Mutex
	phase   string
	routes  int
	samples []sample
	errs    []string
}

func newSampler(controllerPID, dataplanePID int) *sampler {
	return &sampler{controllerPID: controllerPID, dataplanePID: dataplanePID, start: time.Now()}
}

func (s *sampler) setPhase(phase string, routes int) {
	s.mu.Lock()
	s.phase, s.routes = phase, routes
	s.mu.Unlock()
	s.take()
}

// run samples every second until ctx ends.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take()
		}
	}
}

// take reads both processes now and records the sample. A process that is
// gone (restarted: its pid no longer names it) is recorded as an error,
// which the summary reports: the numbers after it would be another
// process's.
func (s *sampler) take() sample {
	c, errC := readUsage(s.controllerPID)
	d, errD := readUsage(s.dataplanePID)
	s.mu.Lock()
	defer s.mu.Unlock()
	smp := sample{At: time.Since(s.start), Phase: s.phase, Routes: s.routes, Controller: c, Dataplane: d}
	for _, e := range []struct {
		who string
		pid int
		err error
	}{{"controller", s.controllerPID, errC}, {"data plane", s.dataplanePID, errD}} {
		if e.err != nil && len(s.errs) < 20 {
			s.errs = append(s.errs, fmt.Sprintf("%s (pid %d) at %s: %v", e.who, e.pid, smp.At.Round(time.Second), e.err))
		}
	}
	s.samples = append(s.samples, smp)
	return smp
}

// peak is the largest RSS of each process over the samples of phase.
func (s *sampler) peak(phase string) (controller, dataplane int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, smp := range s.samples {
		if smp.Phase == phase {
			controller = max(controller, smp.Controller.RSS)
			dataplane = max(dataplane, smp.Dataplane.RSS)
		}
	}
	return controller, dataplane
}

func (s *sampler) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// writeCSV writes every sample: seconds since start, phase, routes, then
// RSS (MiB) and CPU seconds of the controller and the data plane.
func (s *sampler) writeCSV(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintln(w, "t_s,phase,routes,controller_rss_mib,controller_anon_mib,controller_cpu_s,dataplane_rss_mib,dataplane_anon_mib,dataplane_cpu_s"); err != nil {
		return err
	}
	for _, smp := range s.samples {
		if _, err := fmt.Fprintf(w, "%.1f,%s,%d,%.1f,%.1f,%.2f,%.1f,%.1f,%.2f\n", smp.At.Seconds(), smp.Phase, smp.Routes,
			mib(smp.Controller.RSS), mib(smp.Controller.Anon), smp.Controller.CPU, mib(smp.Dataplane.RSS), mib(smp.Dataplane.Anon), smp.Dataplane.CPU); err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
