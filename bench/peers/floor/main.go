// Command floor is the least a goroutine-per-connection HTTP/1.1 proxy in
// Go costs per request: the data plane's system calls (a read and a write
// each way, the MSG_PEEK probe of the upstream connection before reuse,
// the yield before reading the next request) and nothing of HTTP but
// finding where a head ends and how long the body is; with -tls-cert and
// -tls-key, crypto/tls toward the client, as the data plane terminates it. No routing, no
// header handling, no metrics, one upstream connection per client
// connection. It is a measuring stick for bench/peers/README.md ("Where
// the HTTP/1.1 gap is"), never a proxy: it trusts the upstream's framing
// and forwards the request head as it came.
//
//	GOMAXPROCS=1 taskset -c 0 go run ./bench/peers/floor -listen 127.0.0.1:21490 -upstream 127.0.0.1:21001
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"log"
	"net"
	"runtime"
	"syscall"

	"github.com/edgeway/edgeway/bench/peers/h1frame"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:21490", "address to serve on")
	upstream := flag.String("upstream", "127.0.0.1:21001", "HTTP/1.1 backend")
	probe := flag.Bool("probe", true, "peek the upstream connection before each reuse, as the data plane does")
	yield := flag.Bool("yield", true, "yield before reading the next request, as the data plane does")
	certFile := flag.String("tls-cert", "", "terminate TLS with this certificate (PEM; with -tls-key), as the tls scenario does")
	keyFile := flag.String("tls-key", "", "the private key of -tls-cert (PEM)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if (*certFile == "") != (*keyFile == "") {
		log.Fatal("floor: -tls-cert and -tls-key go together: give both to terminate TLS, or neither")
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Print(err)
			continue
		}
		go relay(c, *upstream, *probe, *yield)
	}
}

// relay serves one client connection over its own upstream connection.
func relay(c net.Conn, upstream string, probe, yield bool) {
	defer c.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	raw, err := up.(*net.TCPConn).SyscallConn()
	if err != nil {
		return
	}
	cr := bufio.NewReaderSize(c, 4096)
	ur := bufio.NewReaderSize(up, 4096)
	for {
		if yield && cr.Buffered() == 0 {
			runtime.Gosched()
		}
		req, err := readMessage(cr, false)
		if err != nil {
			return
		}
		if probe && stale(raw) {
			return
		}
		if _, err := up.Write(req); err != nil {
			return
		}
		resp, err := readMessage(ur, true)
		if err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// stale is the data plane's probe (dataplane/proxy/h1alive.go): true when
// the upstream closed the connection or sent bytes nobody asked for.
func stale(raw syscall.RawConn) bool {
	var b [1]byte
	dead := false
	err := raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		dead = err != syscall.EAGAIN
		return true
	})
	return err != nil || dead
}

// readMessage returns a copy of the next head and, with body, the
// Content-Length bytes after it (a message must fit the 4 KiB buffer:
// the peer benchmark's responses are 64-byte bodies).
func readMessage(br *bufio.Reader, body bool) ([]byte, error) {
	for {
		b, _ := br.Peek(br.Buffered())
		if end := bytes.Index(b, []byte("\r\n\r\n")); end >= 0 {
			n := end + 4
			if body {
				n += h1frame.ContentLength(b[:end])
			}
			b, err := br.Peek(n)
			if err != nil {
				return nil, err
			}
			msg := bytes.Clone(b)
			_, _ = br.Discard(n)
			return msg, nil
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}
