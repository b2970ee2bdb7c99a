package proxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// downstreamConn is every accepted connection, below TLS and inspection:
// it carries the client address (the PROXY protocol source when the
// listener has one) and runs onClose exactly once, so that active
// connection counts and connection limits stay right however the
// connection ends (HTTP server, TCP proxy, hijack or shutdown).
type downstreamConn struct {
	net.Conn
	sock    *sockIO  // reads and writes of a TCP connection (sockio.go); nil: Conn's
	remote  net.Addr // nil: the peer address
	once    sync.Once
	onClose func()
}

func (c *downstreamConn) Read(p []byte) (int, error) {
	if c.sock != nil {
		return c.sock.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *downstreamConn) Write(p []byte) (int, error) {
	if c.sock != nil {
		return c.sock.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *downstreamConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *downstreamConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// CloseWrite half-closes, as the TCP proxy expects of a *net.TCPConn.
func (c *downstreamConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// WriteTo and ReadFrom hand io.Copy the raw connection, so TCP-to-TCP
// copies still use splice(2).
func (c *downstreamConn) WriteTo(w io.Writer) (int64, error)  { return io.Copy(w, c.Conn) }
func (c *downstreamConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// connCounter counts the open connections of a socket or a filter chain
// against a limit (0: unlimited).
type connCounter struct{ n atomic.Int64 }

// acquire takes a slot, false when limit is reached.
func (c *connCounter) acquire(limit int64) bool {
	if c.n.Add(1) > limit && limit > 0 {
		c.n.Add(-1)
		return false
	}
	return true
}

func (c *connCounter) release() { c.n.Add(-1) }

// chainCounters keeps one counter per filter chain name of a socket. It
// lives on the socket, not in the compiled configuration, so that a swap
// does not reset the counts of connections still open.
type chainCounters struct{ m sync.Map } // chain name -> *connCounter

func (c *chainCounters) get(name string) *connCounter {
	if v, ok := c.m.Load(name); ok {
		return v.(*connCounter)
	}
	v, _ := c.m.LoadOrStore(name, &connCounter{})
	return v.(*connCounter)
}
