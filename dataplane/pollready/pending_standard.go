//go:build !(linux && edgeway_netpollfifo)

package pollready

// Available reports whether the runtime answers Pending: the standard
// runtime does not.
func Available() bool { return false }

func readPending(uintptr) bool { return true }
