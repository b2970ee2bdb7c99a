package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
)

// tcpCopyBufSize is the read size of the TCP proxy's copy loop: a whole TLS
// record (16 KiB of plaintext plus its overhead) in one read, and what
// nginx's stream module reads with by default (proxy_buffer_size 16k).
const tcpCopyBufSize = 16 << 10

// tcpCopyBufPool holds the copy loop's buffers as array pointers (no
// allocation on Put, unlike a slice header). A connection holds one per
// direction while it is open.
var tcpCopyBufPool = sync.Pool{New: func() any { return new([tcpCopyBufSize]byte) }}

// pipe copies src to dst and half-closes dst. On an error other than EOF
// both ends are closed so the opposite direction stops as well.
//
// It reads into a pooled buffer and writes it out, rather than letting
// io.Copy splice(2) TCP to TCP through a pipe: the exchanges a TCP proxy
// mostly carries (TLS records of requests and responses) are small, and
// for those splice costs three system calls per burst (into the pipe, out
// of it, and the one that finds the socket empty) where read/write costs
// two and the failing read, each with less kernel work. A read that fills
// the whole buffer says the transfer is bulk: from there on the direction
// is left to io.Copy, whose splice moves up to a pipe's size per call
// without copying through the process (bench/go/PROFILE.md, perf-dpperf).
func pipe(dst, src net.Conn) (n int64) {
	bp := tcpCopyBufPool.Get().(*[tcpCopyBufSize]byte)
	n, bulk, err := copySmall(dst, src, bp[:])
	tcpCopyBufPool.Put(bp)
	if bulk {
		var c int64
		c, err = io.Copy(unwrapPrefix(dst), unwrapPrefix(src))
		n += c
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		dst.Close()
		src.Close()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return n
		}
	}
	dst.Close()
	return n
}

// copySmall copies src to dst through buf with src's Read (a prefixConn
// replays the inspected bytes first) and dst's Write only, until EOF (no
// error), an error, or a read that fills buf (bulk: nothing more copied,
// the caller goes on). Once src's reads are a socket's own (sockIO),
// sockIO.copyTo goes on, without the failed read per burst.
func copySmall(dst io.Writer, src io.Reader, buf []byte) (n int64, bulk bool, err error) {
	for {
		if s := sockBelow(src); s != nil {
			m, bulk, ok, err := s.copyTo(dst, buf)
			if ok {
				return n + m, bulk, err
			}
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, false, werr
			}
			if nw != nr {
				return n, false, io.ErrShortWrite
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return n, false, nil
			}
			return n, false, rerr
		}
		if nr == len(buf) {
			return n, true, nil
		}
	}
}

// unwrapPrefix is c below a prefixConn whose replay is done, so that
// io.Copy finds the connections it can splice (downstreamConn hands over
// the TCP connection itself).
func unwrapPrefix(c net.Conn) net.Conn {
	if pc, ok := c.(*prefixConn); ok && len(pc.prefix) == 0 {
		return pc.Conn
	}
	return c
}

// sockBelow is the sockIO that reads src's socket: an accepted
// connection's (downstreamConn), a dialed one's (sockConn), or theirs below
// a prefixConn with nothing left to replay (unwrapPrefix); nil for anything
// else (TLS, a prefix still to replay, a test's pipe).
func sockBelow(src io.Reader) *sockIO {
	c, ok := src.(net.Conn)
	if !ok {
		return nil
	}
	switch v := unwrapPrefix(c).(type) {
	case *downstreamConn:
		return v.sock
	case *sockConn:
		return v.sock
	}
	return nil
}
