//go:build !(linux && edgeway_netpollfifo)

package netpollorder

// ReadinessOrder reports whether the runtime's poller wakes goroutines in
// the order their descriptors became ready: not the standard runtime's.
func ReadinessOrder() bool { return false }
