package proxy

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/edgeway/edgeway/dataplane/pollready"
)

// A TCP connection's Read and Write are read(2) and write(2): on the
// kernels measured here (bench/peers/README.md, "Where the HTTP/1.1 gap
// is") their path through the VFS (fdget_pos, rw_verify_area, the LSM
// hook, sock_read_iter) costs about 0.7 µs per proxied request more than
// recvfrom(2) and sendto(2), which go to the socket directly, as nginx
// and HAProxy call them. sockIO makes the connection's reads and writes
// those calls, through the connection's RawConn so that the netpoller
// still parks the goroutine on EAGAIN and deadlines still apply. Sockets
// are non-blocking, so the calls are made without the runtime's
// system-call bookkeeping (RawSyscall6), as a read that returns EAGAIN
// never blocks.
//
// One read and one write may run at a time, as the connection's users do
// (the HTTP/1.1 loop or its client-gone watch, the HTTP/2 reader and
// writer, crypto/tls under its locks); a second concurrent call takes the
// connection's own Read or Write instead, so the net.Conn contract holds
// whatever a caller does.
type sockIO struct {
	conn *net.TCPConn
	raw  syscall.RawConn

	reading atomic.Bool
	// drained: the last read returned less than it asked for, so the
	// socket held nothing more then; anything that arrived since came with
	// a poller notification (h1alive.go's quiet). False after any other
	// read that reached the socket, and after a concurrent call's.
	drained atomic.Bool
	tried   bool // readStep ran: the read reached the socket
	rbuf    []byte
	rn      int
	rerr    syscall.Errno
	readFn  func(uintptr) bool

	relay *relayMsg // copyTo's, from its first call

	writing atomic.Bool
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(uintptr) bool
}

// newSockIO returns the socket I/O of c, nil unless it is a TCP connection.
func newSockIO(c net.Conn) *sockIO {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &sockIO{conn: tc, raw: raw}
	s.readFn = s.readStep
	s.writeFn = s.writeStep
	return s
}

func (s *sockIO) readStep(fd uintptr) bool {
	s.tried = true
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)), 0, 0, 0)
	switch e {
	case syscall.EAGAIN:
		return false // park until readable
	case syscall.EINTR:
		return s.readStep(fd)
	}
	s.rn, s.rerr = int(n), e
	return true
}

// Read reads as net.TCPConn.Read does: io.EOF at the peer's FIN, errors
// as *net.OpError.
func (s *sockIO) Read(p []byte) (int, error) {
	if len(p) == 0 || !s.reading.CompareAndSwap(false, true) {
		s.drained.Store(false)
		return s.conn.Read(p)
	}
	s.rbuf = p
	err := s.raw.Read(s.readFn)
	n, e := s.rn, s.rerr
	s.rbuf, s.rn, s.rerr = nil, 0, 0
	if s.tried {
		s.drained.Store(err == nil && e == 0 && n > 0 && n < len(p))
	}
	// Else the read failed before it reached the socket (a deadline in
	// the past, as tlsDrained's): nothing was read and the poller's
	// readiness was not reset, so what drained said still holds.
	s.tried = false
	s.reading.Store(false)
	switch {
	case err != nil:
		return 0, s.opError("read", err) // deadline, closed
	case e != 0:
		return 0, s.opError("read", os.NewSyscallError("recvfrom", e))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// copyTo copies what the socket reads to dst, until EOF (a nil error), an
// error, or a read that fills buf (bulk: the caller goes on), all in one
// RawConn.Read, so that the poller's readiness is reset once, not before
// every read. A Read per burst would reset it, try the socket, find it
// empty (EAGAIN) and only then park: one failed system call per burst, two
// for each request and response a TCP proxy carries (bench/peers/README.md,
// "A TCP proxy's failed reads"). An event loop does not make that read
// either: it reads again at the next readiness event.
//
// So after a burst the goroutine parks without reading again, when it
// knows that the socket holds nothing more and that nothing is lost by
// waiting:
//   - the kernel says the socket is empty: each recvmsg returns TCP_INQ,
//     the bytes left after it, and 1 once the peer's FIN is in, since a
//     read can take the last bytes and the FIN together and leave no
//     notification for later (a read that stops at urgent data also leaves
//     bytes);
//   - the poller has not seen a reset or an error (pollready.HungUp): a
//     reset that came with the last bytes leaves no notification either,
//     and TCP_INQ does not count it. Without hack/netpollfifo's overlay this
//     is unknown, and the loop reads again as a Read would.
//
// Bytes that arrive after the read have their notification either still in
// the kernel or recorded for the wait, since nothing resets the readiness
// in between.
//
// dst's Write runs inside the read and may park on dst (a slow peer); the
// socket stays open until it returns, as it would for a Read. ok is false,
// and nothing is read, when another read is in progress.
func (s *sockIO) copyTo(dst io.Writer, buf []byte) (n int64, bulk, ok bool, err error) {
	if len(buf) == 0 || !s.reading.CompareAndSwap(false, true) {
		return 0, false, false, nil
	}
	defer s.reading.Store(false)
	s.drained.Store(false) // the loop does not track it; false never skips a probe
	if s.relay == nil {
		s.relay = &relayMsg{watch: pollready.Of(s.conn)}
		s.relay.hdr.Iov = &s.relay.iov
		s.relay.hdr.Iovlen = 1
		s.relay.hdr.Control = (*byte)(unsafe.Pointer(&s.relay.ctl[0]))
		s.raw.Control(func(fd uintptr) {
			s.relay.inq = syscall.SetsockoptInt(int(fd), unix.SOL_TCP, unix.TCP_INQ, 1) == nil
		})
	}
	m := s.relay
	m.iov.Base = &buf[0]
	m.iov.SetLen(len(buf))
	defer func() { m.iov.Base = nil }() // the pool's buffer is not kept
	var rerr syscall.Errno
	var werr error
	rawErr := s.raw.Read(func(fd uintptr) bool {
		for {
			nr, inq, e := m.recv(fd)
			switch e {
			case 0:
			case syscall.EAGAIN:
				return false // park until readable
			case syscall.EINTR:
				continue
			default:
				rerr = e
				return true
			}
			if nr == 0 {
				return true // EOF
			}
			nw, err := dst.Write(buf[:nr])
			n += int64(nw)
			switch {
			case err != nil:
				werr = err
				return true
			case nw != nr:
				werr = io.ErrShortWrite
				return true
			case nr == len(buf):
				bulk = true
				return true
			case inq == 0 && !m.watch.HungUp():
				return false // empty, nothing lost: park until the poller reports more
			}
			// More bytes, the FIN, a reset, or unknown: read on.
		}
	})
	switch {
	case werr != nil:
		return n, false, true, werr
	case rawErr != nil:
		return n, false, true, s.opError("read", rawErr) // closed
	case rerr != 0:
		return n, false, true, s.opError("read", os.NewSyscallError("recvmsg", rerr))
	}
	return n, bulk, true, nil
}

// relayMsg is copyTo's recvmsg: the header, its one buffer and the control
// message the kernel returns TCP_INQ in, on the heap so that the pointers
// the header holds stay put; and what copyTo asks the poller.
type relayMsg struct {
	hdr   syscall.Msghdr
	iov   syscall.Iovec
	ctl   [4]uint64 // a cmsghdr and its int, 8-byte aligned
	inq   bool      // TCP_INQ is on (Linux 4.18 and later)
	watch pollready.Watch
	reads int // recvmsg calls, failed ones included (the tests count them)
}

// recv reads into the iov and returns the bytes read and TCP_INQ's count
// (-1 when the kernel sent none).
func (m *relayMsg) recv(fd uintptr) (n, inq int, e syscall.Errno) {
	m.hdr.SetControllen(len(m.ctl) * 8)
	m.reads++
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&m.hdr)), 0, 0, 0, 0)
	if e != 0 {
		return 0, -1, e
	}
	inq = -1
	if m.inq && int(m.hdr.Controllen) >= syscall.CmsgLen(4) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&m.ctl[0]))
		if h.Level == unix.SOL_TCP && h.Type == unix.TCP_CM_INQ {
			inq = int(*(*int32)(unsafe.Add(unsafe.Pointer(&m.ctl[0]), syscall.CmsgLen(0))))
		}
	}
	return int(r), inq, 0
}

func (s *sockIO) writeStep(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			s.wn += int(n)
		case syscall.EAGAIN:
			return false // park until writable
		case syscall.EINTR:
		default:
			s.werr = e
			return true
		}
	}
	return true
}

// Write writes all of p as net.TCPConn.Write does, or fails.
func (s *sockIO) Write(p []byte) (int, error) {
	if len(p) == 0 || !s.writing.CompareAndSwap(false, true) {
		return s.conn.Write(p)
	}
	s.wbuf = p
	err := s.raw.Write(s.writeFn)
	n, e := s.wn, s.werr
	s.wbuf, s.wn, s.werr = nil, 0, 0
	s.writing.Store(false)
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case e != 0:
		return n, s.opError("write", os.NewSyscallError("sendto", e))
	}
	return n, nil
}

// opError wraps err as the net package's own methods do. The RawConn's
// errors (a deadline, a closed connection) come wrapped already, as
// "raw-read" or "raw-write": their cause is kept under the plain name.
func (s *sockIO) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: err}
}

// sockConn is a dialed TCP connection whose Read and Write are sockIO's;
// the rest (deadlines, SyscallConn for the pool's probe, Close) is the
// TCP connection's.
type sockConn struct {
	*net.TCPConn
	sock *sockIO
}

// withSockIO returns c with sockIO's reads and writes when it is a TCP
// connection, c itself otherwise.
func withSockIO(c net.Conn) net.Conn {
	if s := newSockIO(c); s != nil {
		return &sockConn{TCPConn: s.conn, sock: s}
	}
	return c
}

func (c *sockConn) Read(p []byte) (int, error)  { return c.sock.Read(p) }
func (c *sockConn) Write(p []byte) (int, error) { return c.sock.Write(p) }
