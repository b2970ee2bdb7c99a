// Package pollready tells, without a system call, whether the Go runtime's
// network poller was told that a TCP connection became readable since the
// connection's last read: what an event loop (nginx, HAProxy) knows of an
// idle connection from its last epoll_wait. The data plane's upstream pool
// uses it to skip the probe of an idle connection the poller heard nothing
// from (dataplane/proxy/h1alive.go). HungUp tells whether it was told of
// the peer's FIN, reset or an error: the TCP proxy's copy loop parks after
// a burst without the read that would fail unless it was
// (dataplane/proxy/sockio.go, copyTo).
//
// PollNetwork asks the poller, without waiting, which descriptors became
// ready, and makes their goroutines runnable at once: what the scheduler
// does only when it has nothing else to run. The handshake turns of
// dataplane/proxy call it before a TLS handshake computes.
//
// The standard runtime keeps both to itself. A binary built with
// hack/netpollfifo's overlay (`make build` does) has them in package
// runtime; any other build reports every Watch as unknown, and the caller
// asks the socket instead, and its PollNetwork does nothing.
//
// What the answer covers: the poller's view is as fresh as its last poll.
// Bytes or a FIN that arrived after it are not seen until the next one, as
// an event loop does not see them until its next epoll_wait. A caller that
// must not miss them (a request that cannot be retried) asks the socket.
package pollready

import (
	"net"
	"reflect"
)

// Watch is a connection's poll descriptor, for Pending. The zero Watch is
// unknown. A Watch is only valid while its connection is open: the runtime
// reuses a closed connection's descriptor for another one.
type Watch struct{ pd uintptr }

// Of returns the Watch of c; an unknown one when the runtime cannot answer
// (Available is false) or c has no poll descriptor.
func Of(c *net.TCPConn) Watch {
	if !Available() || c == nil {
		return Watch{}
	}
	return Watch{descriptorOf(c)}
}

// Known reports whether Pending answers for the connection.
func (w Watch) Known() bool { return w.pd != 0 }

// Pending reports whether the poller holds a read notification for the
// connection that no read has taken since (bytes or a FIN arrived), or an
// error: true for an unknown Watch, since then nothing is known.
func (w Watch) Pending() bool {
	if w.pd == 0 {
		return true
	}
	return readPending(w.pd)
}

// HungUp reports whether the poller has been told of the peer's FIN, a
// hang-up (a reset) or an error on the connection, or it is closing: true
// for an unknown Watch, since then nothing is known. Unlike Pending, a read
// does not clear it. A reader that found the socket empty after a burst
// (TCP_INQ) asks it before it parks without reading again: a reset that
// came with the burst leaves no notification for later, and is read as the
// read's error only if someone reads.
func (w Watch) HungUp() bool {
	if w.pd == 0 {
		return true
	}
	return hungUp(w.pd)
}

// descriptorOf finds c's runtime poll descriptor: net.TCPConn's conn.fd
// (*net.netFD), its pfd (internal/poll.FD), whose pd.runtimeCtx is the
// runtime's *pollDesc. The fields are the standard library's unexported
// ones, read by name through reflection (reading a number from an
// unexported field is allowed; nothing is written). Zero when a Go release
// names or types them otherwise: the caller then asks the socket, as with
// the standard runtime. A connection is dialed far less often than it is
// used, so the reflection's cost is paid once per connection.
func descriptorOf(c *net.TCPConn) uintptr {
	v := field(reflect.ValueOf(c).Elem(), "conn")
	v = field(v, "fd")
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0
	}
	v = field(field(field(v.Elem(), "pfd"), "pd"), "runtimeCtx")
	if v.Kind() != reflect.Uintptr {
		return 0
	}
	return uintptr(v.Uint())
}

// field is v's field name, or the zero Value when v is not a struct or has
// no such field.
func field(v reflect.Value, name string) reflect.Value {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.FieldByName(name)
}
