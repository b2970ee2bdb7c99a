package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestAcceptQueueCountsUnacceptedConnections dials a listener that does not
// accept: the kernel completes the handshakes and queues the connections,
// and the sock_diag dump must see each, then one fewer once one is taken.
func TestAcceptQueueCountsUnacceptedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	if q, err := acceptQueue(port); err != nil || q != 0 {
		t.Fatalf("acceptQueue before any connection = %d, %v; want 0", q, err)
	}
	const n = 5
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// The client's connect returns with the handshake's last ACK sent; the
	// listener queues the connection when that ACK arrives.
	waitQueue(t, port, n)

	sampler := startAcceptQueueSample(fmt.Sprintf("https://localhost:%d/", port))
	time.Sleep(5 * acceptQueueEvery)
	if mean, ok := sampler.stop(); !ok || mean != n {
		t.Errorf("sampled mean = %v, %v; want %d, true", mean, ok, n)
	}

	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitQueue(t, port, n-1)

	// Another listener's queue is not counted: one of this test's own, so
	// that nothing else on the machine can have queued on it.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if q, err := acceptQueue(uint16(other.Addr().(*net.TCPAddr).Port)); err != nil || q != 0 {
		t.Errorf("acceptQueue of another listener = %d, %v; want 0", q, err)
	}
	if startAcceptQueueSample("https://localhost/") != nil {
		t.Error("a URL without a port was sampled")
	}
}

func waitQueue(t *testing.T, port uint16, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := acceptQueue(port)
		if err != nil {
			t.Fatal(err)
		}
		if q == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue of port %d = %d; want %d", port, q, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAcceptQueueExplainsTheP99 is the report's side: a peer whose
// connections waited in its accept queue gets the column and, when
// edgeway's p99 is behind, the wait its latencies leave out.
func TestAcceptQueueExplainsTheP99(t *testing.T) {
	q := func(v float64) *float64 { return &v }
	nginx, edge := rec("tls-newconn", "nginx", 0, 1500, 20, 0.94), rec("tls-newconn", edgewayName, 0, 1600, 40, 0.82)
	nginx.AcceptQueue, edge.AcceptQueue = q(42), q(0.4)
	old := rec("tls-newconn", "haproxy", 0, 1400, 30, 0.96) // from before the field
	cells := aggregate([]runRecord{nginx, old, edge}, map[string]bool{"nginx": true, "haproxy": true})
	md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"tls-newconn"}), nil)
	summaryHas(t, md,
		"| 1596 | ? | ? | 42.0 | - |", // nginx: switches and wakes not known, its queue
		"| 1951 | ? | ? | 0.4 | - |",  // edgeway
		"| 1458 | ? | ? | ? | - |",    // haproxy: from before the field
		"p99 100% higher; nginx's latencies leave out 42.0 connections waiting in its accept queue, 28.0 ms each, edgeway's 0.4",
	)
	// With edgeway's queue as long, nothing is left out of one and not the other.
	edge.AcceptQueue = q(40)
	cells = aggregate([]runRecord{nginx, edge}, map[string]bool{"nginx": true})
	if md := summary(environment{Started: "now"}, cells, verdicts(cells, []string{"tls-newconn"}), nil); strings.Contains(md, "leave out") {
		t.Errorf("the wait is named though both queued alike:\n%s", md)
	}
}
