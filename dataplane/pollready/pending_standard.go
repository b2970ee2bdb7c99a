//go:build !(linux && edgeway_netpollfifo)

package pollready

// Available reports whether the runtime answers Pending: the standard
// runtime does not.
func Available() bool { return false }

func readPending(uintptr) bool { return true }

func hungUp(uintptr) bool { return true }

// PollNetwork does nothing: the standard runtime polls when it has nothing
// else to run.
func PollNetwork() {}
