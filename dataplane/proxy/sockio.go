package proxy

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
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
