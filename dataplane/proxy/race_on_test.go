//go:build race

package proxy

// The race detector's scheduler puts goroutines in its run queue at
// random, so no order of theirs survives it.
const raceEnabled = true
