package proxy

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTCPBackend reads until the client half-closes, then answers
// "<name>:<what it read>" and closes: a reply arrives only if the proxy
// propagated the half-close.
func startTCPBackend(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				data, _ := io.ReadAll(c)
				io.WriteString(c, name+":"+string(data))
			}()
		}
	}()
	return ln.Addr().String()
}

// tcpExchange sends msg, half-closes and returns the whole reply.
func tcpExchange(t testing.TB, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(reply)
}

func TestTCPProxyWeighted(t *testing.T) {
	p := newProxy(t)
	res := newResources()
	addCluster(res, "one", startTCPBackend(t, "one"))
	addCluster(res, "three", startTCPBackend(t, "three"))
	res.Listeners["tcp"] = listener(t, "tcp", 0, false, chain("tcp", nil, nil, tcpFilter(t, map[string]uint32{"one": 1, "three": 3})))
	applyAll(t, p, res)
	addr := p.ListenerAddr("tcp").String()

	counts := map[string]int{}
	const n = 400
	for i := range n {
		reply := tcpExchange(t, addr, "ping")
		name, data, _ := strings.Cut(reply, ":")
		if data != "ping" {
			t.Fatalf("exchange %d: reply %q", i, reply)
		}
		counts[name]++
	}
	// Expect 100/300; allow a wide margin for randomness (p < 1e-6 to fail).
	if counts["one"] < 50 || counts["one"] > 160 || counts["one"]+counts["three"] != n {
		t.Errorf("weighted split 1:3 gave %v", counts)
	}
}

func TestTCPProxyLargeTransferAndNoEndpoints(t *testing.T) {
	p := newProxy(t)
	res := newResources()
	addCluster(res, "echo", startTCPBackend(t, "echo"))
	addCluster(res, "empty")
	res.Listeners["tcp"] = listener(t, "tcp", 0, false, chain("tcp", nil, nil, tcpFilter(t, map[string]uint32{"echo": 1})))
	res.Listeners["tcp-empty"] = listener(t, "tcp-empty", 0, false, chain("tcp", nil, nil, tcpFilter(t, map[string]uint32{"empty": 1})))
	applyAll(t, p, res)

	big := strings.Repeat("0123456789", 200_000) // 2 MB both ways
	if reply := tcpExchange(t, p.ListenerAddr("tcp").String(), big); reply != "echo:"+big {
		t.Errorf("large transfer: got %d bytes", len(reply))
	}
	// No endpoints: the proxy closes the connection without a byte.
	c, err := net.Dial("tcp", p.ListenerAddr("tcp-empty").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("cluster without endpoints: read %d bytes, %v", n, err)
	}
}

// TestTCPProxyBulkThenSmallAfterInspection: on a listener with the TLS
// inspector (the client's first bytes replayed through a prefixConn), a
// bulk transfer each way (the copy loop hands over to io.Copy once a read
// fills its buffer), then a small exchange on the same connection, then
// the client's half-close, which must reach the backend and come back as
// EOF.
func TestTCPProxyBulkThenSmallAfterInspection(t *testing.T) {
	echo := startEchoBackend(t) // echoes until the client's half-close, then closes
	p := newProxy(t)
	res := newResources()
	addCluster(res, "echo", echo)
	res.Listeners["tcp"] = listener(t, "tcp", 0, true, chain("tcp", nil, nil, tcpFilter(t, map[string]uint32{"echo": 1})))
	applyAll(t, p, res)

	c, err := net.Dial("tcp", p.ListenerAddr("tcp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	big := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB
	werr := make(chan error, 1)
	go func() { _, err := c.Write(big); werr <- err }()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("bulk echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("bulk write: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("bulk echo: the bytes differ")
	}
	for _, msg := range []string{"ping", "a second small one"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, len(msg))
		if _, err := io.ReadFull(c, reply); err != nil || string(reply) != msg {
			t.Fatalf("small echo after bulk: %q, %v", reply, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the client's half-close: read %d bytes, %v; want EOF", n, err)
	}
}
