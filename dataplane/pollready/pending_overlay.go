//go:build linux && edgeway_netpollfifo

package pollready

import _ "unsafe" // for go:linkname

// runtimePollReadPending is in package runtime only when hack/netpollfifo's
// overlay added it: a build with the tag and without the overlay fails to
// link.
//
//go:linkname runtimePollReadPending runtime.edgewayPollReadPending
func runtimePollReadPending(pd uintptr) bool

// Available reports whether the runtime answers Pending: it does.
func Available() bool { return true }

func readPending(pd uintptr) bool { return runtimePollReadPending(pd) }
