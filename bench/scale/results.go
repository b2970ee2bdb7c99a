package main

import (
	"fmt"
	"io"
	"time"
)

// sizeResult is what one route count measured.
type sizeResult struct {
	Routes int
	// Setup: the creates of the size's new routes (Create), the first
	// write to the data plane answering the last of them (Served).
	New            int
	Create, Served time.Duration
	// StatusWritten: from the first write until every route of the size
	// had its status (BENCH_SCALE_STATUS_WAIT; 0 when not waited for).
	StatusWritten      time.Duration
	StatusWaitTimedOut bool
	// Steady is a reading 5 s after every route was served; Peak is the
	// largest RSS sampled from the setup to the end of the propagation
	// samples of this size.
	Steady                        sample
	PeakController, PeakDataplane int64
	SetupCPUController            float64 // CPU seconds used by the setup
	SetupCPUDataplane             float64
	// Propagation.
	Changes                             []change
	P50, P99, Max                       time.Duration
	TimedOut                            int
	PropCPUController, PropCPUDataplane float64 // CPU seconds per change
	Translations                        int     // controller translations during the samples
	TranslationMean                     time.Duration
	ConfigSwaps                         int // data plane configuration swaps during the samples
	HeapController, HeapDataplane       int64
	// StatusCurrent counts the size's routes whose status edgeway had
	// written for their current generation when the samples ended.
	StatusCurrent int
}

func (s *sizeResult) summarize() {
	var ds []time.Duration
	for _, c := range s.Changes {
		ds = append(ds, c.Latency)
		if c.TimedOut {
			s.TimedOut++
		}
	}
	s.P50, s.P99, s.Max = percentile(ds, 50), percentile(ds, 99), percentile(ds, 100)
}

func writeSizesCSV(w io.Writer, sizes []*sizeResult) error {
	if _, err := fmt.Fprintln(w, "routes,new,create_s,served_s,controller_rss_mib,controller_anon_mib,controller_peak_mib,dataplane_rss_mib,dataplane_anon_mib,dataplane_peak_mib,"+
		"setup_cpu_controller_s,setup_cpu_dataplane_s,changes,p50_ms,p99_ms,max_ms,timed_out,cpu_per_change_controller_ms,cpu_per_change_dataplane_ms,"+
		"translations,translation_mean_ms,config_swaps,controller_heap_mib,dataplane_heap_mib,status_current,status_written_s,status_wait_timed_out"); err != nil {
		return err
	}
	for _, s := range sizes {
		if _, err := fmt.Fprintf(w, "%d,%d,%.2f,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.2f,%.2f,%d,%.1f,%.1f,%.1f,%d,%.1f,%.1f,%d,%.1f,%d,%.1f,%.1f,%d,%.1f,%t\n",
			s.Routes, s.New, s.Create.Seconds(), s.Served.Seconds(),
			mib(s.Steady.Controller.RSS), mib(s.Steady.Controller.Anon), mib(s.PeakController),
			mib(s.Steady.Dataplane.RSS), mib(s.Steady.Dataplane.Anon), mib(s.PeakDataplane),
			s.SetupCPUController, s.SetupCPUDataplane, len(s.Changes), ms(s.P50), ms(s.P99), ms(s.Max), s.TimedOut,
			s.PropCPUController*1000, s.PropCPUDataplane*1000, s.Translations, ms(s.TranslationMean), s.ConfigSwaps,
			mib(s.HeapController), mib(s.HeapDataplane), s.StatusCurrent, s.StatusWritten.Seconds(), s.StatusWaitTimedOut); err != nil {
			return err
		}
	}
	return nil
}
