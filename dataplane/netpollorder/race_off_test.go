//go:build !race

package netpollorder

const raceEnabled = false
