// Package netpollorder says whether this binary's Go runtime hands the
// goroutines its network poller wakes to the scheduler in the order their
// descriptors became ready: true when it was built with hack/netpollfifo's
// overlay (`make build` does), false with the standard runtime, which hands
// them out in the reverse order (hack/netpollfifo's comment says why that
// widens a loaded proxy's latencies). Its test checks the order itself.
package netpollorder

// Tag is the build tag hack/netpollfifo prints with its overlay.
const Tag = "edgeway_netpollfifo"
