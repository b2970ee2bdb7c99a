package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// silentBackend accepts one connection, reads one request and never
// answers: arrived says the request reached it, gone that the proxy then
// closed the connection. Only the proxy cutting the exchange (the client
// went away) closes it, so a test that waits for arrived before the
// client leaves has no race with a response.
func silentBackend(t *testing.T) (addr string, arrived, gone chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	arrived, gone = make(chan struct{}, 1), make(chan struct{}, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		arrived <- struct{}{}
		if _, err := br.ReadByte(); err == io.EOF {
			gone <- struct{}{}
		}
	}()
	return ln.Addr().String(), arrived, gone
}
