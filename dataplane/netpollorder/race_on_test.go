//go:build race

package netpollorder

// The race detector's scheduler puts goroutines in its run queue at
// random, so no order survives it.
const raceEnabled = true
