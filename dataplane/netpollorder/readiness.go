//go:build linux && edgeway_netpollfifo

package netpollorder

import _ "unsafe" // for go:linkname

// runtimeNetpollOrder is in package runtime only when hack/netpollfifo's
// overlay added it: a build with the tag and without the overlay fails to
// link, so a binary never claims an order its runtime does not have.
//
//go:linkname runtimeNetpollOrder runtime.edgewayNetpollOrder
func runtimeNetpollOrder() string

// ReadinessOrder reports whether the runtime's poller wakes goroutines in
// the order their descriptors became ready.
func ReadinessOrder() bool { return runtimeNetpollOrder() == "readiness" }
