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

//go:linkname runtimePollHungUp runtime.edgewayPollHungUp
func runtimePollHungUp(pd uintptr) bool

func hungUp(pd uintptr) bool { return runtimePollHungUp(pd) }

//go:linkname runtimePollNetwork runtime.edgewayPollNetwork
func runtimePollNetwork()

// PollNetwork makes the goroutines of every descriptor that became ready
// since the scheduler last polled runnable now, on this P's run queue,
// instead of when the P next runs out of work. One epoll_wait that does not
// wait.
func PollNetwork() { runtimePollNetwork() }
