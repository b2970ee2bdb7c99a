package main

import (
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// wrk's latency starts when a request is written, after the connection's
// handshake. A connection the kernel has accepted (its TCP handshake done)
// but the proxy has not yet taken from its listen socket waits in that
// socket's accept queue, where no latency counts it, and the load generator,
// which has nothing to do for it, loops faster for the others. A proxy that
// takes every connection at once carries that wait in its latencies; one
// that leaves them queued does not. In the new-connection-per-request
// scenario the difference decides the p99, so each run samples the queue.
//
// The kernel reports a listen socket's queue as its receive queue in a
// sock_diag dump (what `ss -lt` shows as Recv-Q). The dump asks for
// listening sockets only: /proc/net/tcp would list the tens of thousands of
// TIME_WAIT sockets the scenario leaves too, at every sample.

// acceptQueueEvery is how often the queue is sampled.
const acceptQueueEvery = 20 * time.Millisecond

// acceptQueueSampler samples one TCP port's accept queue during a measured run.
type acceptQueueSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	sum   int64
	n     int64
}

// startAcceptQueueSample samples the accept queue of the listening socket(s)
// on rawURL's port until stop; nil when the URL names no port.
func startAcceptQueueSample(rawURL string) *acceptQueueSampler {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port <= 0 {
		return nil
	}
	a := &acceptQueueSampler{stopc: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(acceptQueueEvery)
		defer t.Stop()
		for {
			select {
			case <-a.stopc:
				return
			case <-t.C:
			}
			if q, err := acceptQueue(uint16(port)); err == nil {
				a.sum += int64(q)
				a.n++
			}
		}
	}()
	return a
}

// stop ends the sampling and returns the mean number of connections that
// waited in the queue; false when no sample was taken.
func (a *acceptQueueSampler) stop() (float64, bool) {
	if a == nil {
		return 0, false
	}
	close(a.stopc)
	a.wg.Wait()
	if a.n == 0 {
		return 0, false
	}
	return float64(a.sum) / float64(a.n), true
}

// acceptQueue is the number of connections waiting to be accepted on the
// listening TCP sockets of port, IPv4 and IPv6, summed (SO_REUSEPORT gives
// a port several).
func acceptQueue(port uint16) (int, error) {
	total := 0
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		q, err := listenQueues(family, port)
		if err != nil {
			return 0, err
		}
		total += q
	}
	return total, nil
}

// The sock_diag request and answer, as linux/inet_diag.h lays them out.
const (
	nlmsgHeaderLen    = 16
	inetDiagReqLen    = 56 // struct inet_diag_req_v2
	inetDiagMsgMinLen = 72 // struct inet_diag_msg
	tcpListen         = 10 // TCP_LISTEN in the kernel's state numbering
)

// listenQueues dumps the listening TCP sockets of one address family and
// sums the accept queues of those on port.
func listenQueues(family uint8, port uint16) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, listenDumpRequest(family), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 32<<10)
	total := 0
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, err
		}
		q, done, err := sumListenQueues(buf[:n], port)
		if err != nil {
			return 0, err
		}
		total += q
		if done {
			return total, nil
		}
	}
}

// listenDumpRequest asks for every listening TCP socket of family.
func listenDumpRequest(family uint8) []byte {
	b := make([]byte, nlmsgHeaderLen+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	r := b[nlmsgHeaderLen:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpListen) // idiag_states
	return b
}

// sumListenQueues reads one datagram of the dump: the accept queues
// (idiag_rqueue) of the sockets whose local port is port, and whether the
// dump has ended.
func sumListenQueues(b []byte, port uint16) (total int, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHeaderLen {
		length := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if length < nlmsgHeaderLen || length > len(b) {
			return 0, false, errors.New("sock_diag: truncated message")
		}
		msg := b[nlmsgHeaderLen:length]
		switch typ {
		case unix.NLMSG_DONE:
			return total, true, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if errno := int32(ne.Uint32(msg)); errno != 0 {
					return 0, false, unix.Errno(-errno)
				}
			}
			return total, true, nil
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(msg) >= inetDiagMsgMinLen {
				sport := binary.BigEndian.Uint16(msg[4:]) // id.idiag_sport, network order
				if sport == port {
					total += int(ne.Uint32(msg[56:])) // idiag_rqueue
				}
			}
		}
		b = b[(length+3)&^3:]
	}
	return total, false, nil
}
