// Command evfloor is floor's event-loop twin: the same least HTTP/1.1
// forwarding (find where a head ends and how long the body is, one upstream
// connection per client connection, no routing, no header handling), served
// by one OS thread over epoll instead of a goroutine per connection. It asks
// whether the spread of the data plane's latencies (a lower p50 and a wider
// p99 than HAProxy's, bench/peers/README.md) belongs to the
// goroutine-per-connection model or to the work: with the same work, floor
// and evfloor differ only in who decides what runs next, Go's scheduler or
// the order epoll reports readiness in, as in HAProxy and nginx.
//
// It is a measuring stick, never a proxy: it trusts the upstream's framing,
// forwards the request head as it came, and drops a connection whose write
// would block (4 KiB messages on loopback never do).
//
//	GOMAXPROCS=1 taskset -c 0 go run ./bench/peers/evfloor -listen 127.0.0.1:21491 -upstream 127.0.0.1:21001
package main

import (
	"flag"
	"log"
	"net"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/edgeway/edgeway/bench/peers/h1frame"
)

// side is one socket of a relayed pair and what it has read so far.
type side struct {
	fd   int
	peer *side
	buf  []byte
	n    int
	// response: this side reads responses (the upstream), whose framing
	// includes a body of Content-Length bytes.
	response bool
}

func main() {
	listen := flag.String("listen", "127.0.0.1:21491", "address to serve on")
	upstream := flag.String("upstream", "127.0.0.1:21001", "HTTP/1.1 backend")
	flag.Parse()
	// The loop owns its thread: every wait is in epoll_wait, where the
	// runtime hands the P on as for any system call.
	runtime.LockOSThread()

	up, err := net.ResolveTCPAddr("tcp", *upstream)
	if err != nil {
		log.Fatal(err)
	}
	lfd, err := listenFD(*listen)
	if err != nil {
		log.Fatal(err)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		log.Fatal(err)
	}
	sides := map[int32]*side{}
	closePair := func(s *side) {
		for _, x := range []*side{s, s.peer} {
			delete(sides, int32(x.fd))
			_ = unix.Close(x.fd) // closing removes it from the epoll set
		}
	}
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == lfd {
				for {
					cfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					ufd, err := dialFD(up)
					if err != nil {
						log.Print(err)
						_ = unix.Close(cfd)
						continue
					}
					c := &side{fd: cfd, buf: make([]byte, 4096)}
					u := &side{fd: ufd, buf: make([]byte, 4096), response: true, peer: c}
					c.peer = u
					sides[int32(cfd)], sides[int32(ufd)] = c, u
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, cfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(cfd)})
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ufd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ufd)})
				}
				continue
			}
			s := sides[ev.Fd]
			if s == nil {
				continue // closed earlier in this batch
			}
			if !s.relay() {
				closePair(s)
			}
		}
	}
}

// relay reads what s has ready and forwards every whole message to its
// peer. It reports false when the pair is done.
func (s *side) relay() bool {
	r, err := unix.Read(s.fd, s.buf[s.n:])
	if err == unix.EAGAIN {
		return true
	}
	if err != nil || r == 0 {
		return false
	}
	s.n += r
	for {
		m := h1frame.Len(s.buf[:s.n], s.response)
		if m == 0 {
			return s.n < len(s.buf) // a message larger than the buffer is not served
		}
		if w, err := unix.Write(s.peer.fd, s.buf[:m]); err != nil || w != m {
			return false
		}
		s.n = copy(s.buf, s.buf[m:s.n])
	}
}

func listenFD(addr string) (int, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := unix.Bind(fd, sa); err != nil {
		return -1, err
	}
	return fd, unix.Listen(fd, 4096)
}

// dialFD connects while blocking (loopback connects at once), then makes
// the socket non-blocking for the loop.
func dialFD(a *net.TCPAddr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
