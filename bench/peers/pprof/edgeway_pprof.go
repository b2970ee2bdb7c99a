//go:build peerbench_pprof

// This file is not part of any package of the repository: bench/peers/run.sh
// overlays it into cmd/edgeway-dataplane (go build -overlay, -tags
// peerbench_pprof) to build .cache/bin/edgeway-dataplane-pprof, the binary
// of the profiling pass. The measured runs use the plain edgeway-dataplane.
package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"

	"github.com/edgeway/edgeway/bench/peers/runtimelat"
)

// EDGEWAY_BENCH_PPROF is the loopback address of the pprof endpoint, which
// also serves /debug/runtime-latency (the runtime's scheduling latencies and
// garbage collections over ?seconds=N); unset, the binary behaves like
// edgeway.
func init() {
	addr := os.Getenv("EDGEWAY_BENCH_PPROF")
	if addr == "" {
		return
	}
	http.Handle("/debug/runtime-latency", runtimelat.Handler())
	go func() { log.Println("pprof endpoint:", http.ListenAndServe(addr, nil)) }()
}
