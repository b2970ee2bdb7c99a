package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// controllerGCPercent is the controller's GOGC unless the environment
// sets one. Its heap is mostly long-lived (the informer cache, the
// translator's memo, the published xDS: about 60 MiB at 5000 routes) and
// every change allocates a few MiB more, so at Go's default of 100 a GC
// cycle, which marks the whole heap, came every few changes and ran on the
// cores the next translation needed. At 200 half as many cycles; the heap
// may grow by one more live heap (bench/scale/README.md: "The propagation
// tail after perf-propk").
const controllerGCPercent = 200

// memLimitShare of the container's memory limit is the controller's soft
// memory limit (GOMEMLIMIT) unless the environment sets one: the GC works
// harder as the heap nears it, instead of the Pod being OOM-killed because
// of the larger GOGC.
const memLimitShare = 0.75

// cgroupMemoryMax is the cgroup v2 memory limit of this process.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// gcSettings are what applyControllerGC set (0: left as it was).
type gcSettings struct {
	gcPercent int
	memLimit  int64
}

// applyControllerGC sets the controller's GC defaults where the
// environment (getenv) sets none; containerLimit is the container's memory
// limit in bytes (0: none).
func applyControllerGC(getenv func(string) string, containerLimit int64) gcSettings {
	var s gcSettings
	if getenv("GOGC") == "" {
		debug.SetGCPercent(controllerGCPercent)
		s.gcPercent = controllerGCPercent
	}
	if getenv("GOMEMLIMIT") == "" && containerLimit > 0 {
		s.memLimit = int64(float64(containerLimit) * memLimitShare)
		debug.SetMemoryLimit(s.memLimit)
	}
	return s
}

// containerMemoryLimit reads the cgroup's memory limit (0 when there is
// none, or it cannot be read).
func containerMemoryLimit() int64 {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max": no limit
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// gcPercentString says where GOGC came from, for the log.
func gcPercentString(set int) string {
	if set == 0 {
		return "from $GOGC"
	}
	return strconv.Itoa(set)
}
