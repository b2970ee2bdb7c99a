package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// rawConn is the churn load generator's HTTP/1.1 client: one keep-alive
// connection, one request at a time, and every failure reported. (Go's
// http.Transport silently retries a GET on a fresh connection when a
// reused one fails before the answer, which would hide exactly the
// connection errors the churn counts.)
type rawConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

func newRawConn(addr string) *rawConn { return &rawConn{addr: addr} }

// get sends GET / for host and returns the status. Any error closes the
// connection; the next get dials a new one.
func (c *rawConn) get(host string) (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, fmt.Errorf("dial %s: %w", c.addr, err)
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	fail := func(err error) (int, error) {
		c.close()
		return 0, err
	}
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUser-Agent: edgeway-bench-scale\r\n\r\n"); err != nil {
		return fail(fmt.Errorf("write: %w", err))
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fail(fmt.Errorf("read response: %w", err))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fail(fmt.Errorf("read body of a %d: %w", resp.StatusCode, err))
	}
	if resp.Close {
		c.close() // the server said Connection: close; not an error
	}
	return resp.StatusCode, nil
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}
