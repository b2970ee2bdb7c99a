package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHandshakeTurnsBoundWhoComputes: no more than the turns' number hold
// one at once; a turn given back lets the next waiter in.
func TestHandshakeTurnsBoundWhoComputes(t *testing.T) {
	turns := newHandshakeTurns(2)
	turns.take()
	turns.take()
	third := make(chan struct{})
	go func() {
		turns.take()
		close(third)
	}()
	select {
	case <-third:
		t.Fatal("a third handshake took a turn while two were held")
	case <-time.After(50 * time.Millisecond):
	}
	turns.give()
	select {
	case <-third:
	case <-time.After(5 * time.Second):
		t.Fatal("a given-back turn did not reach the waiting handshake")
	}
}

// TestTurnConnHoldsTheTurnOnlyWhileComputing: the turn is kept through
// reads of what the inspector already read, given back around a read that
// waits for the client, and given up for good at the first write.
func TestTurnConnHoldsTheTurnOnlyWhileComputing(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	turns := newHandshakeTurns(1)
	turns.take()
	c := &turnConn{Conn: &prefixConn{Conn: server, prefix: []byte("hel")}, turns: turns}

	held := func() bool { return len(turns.slots) == 1 }
	buf := make([]byte, 8)
	if n, _ := c.Read(buf); n != 3 || !held() {
		t.Fatalf("read of the inspector's bytes: n=%d, turn held %v; want 3 and held", n, held())
	}
	// Nothing buffered now: the read waits for the client without the turn.
	read := make(chan int)
	go func() {
		n, _ := c.Read(buf)
		read <- n
	}()
	waitFor(t, func() bool { return !held() })
	client.Write([]byte("lo"))
	if n := <-read; n != 2 || !held() {
		t.Fatalf("read from the client: n=%d, turn held %v; want 2 and held again", n, held())
	}
	// net.Pipe's write waits for the reader, as a flight larger than the
	// socket's buffers waits for the client's window: the turn is given up
	// before the write, not after it.
	wrote := make(chan struct{})
	go func() {
		c.Write([]byte("flight"))
		close(wrote)
	}()
	waitFor(t, func() bool { return !held() })
	io.ReadFull(client, make([]byte, len("flight")))
	<-wrote
	if c.turns != nil {
		t.Fatal("the turn was not given up for good at the first write")
	}
	go client.Write([]byte("finished"))
	if n, _ := c.Read(buf); n != len("finished") || held() {
		t.Fatalf("read after the write: n=%d, turn held %v; want %d and not held", n, held(), len("finished"))
	}
	c.release() // the handshake's deferred release: nothing more to give back
	if len(turns.slots) != 0 {
		t.Fatalf("%d turns held after the release", len(turns.slots))
	}
}

// clientHelloRecord is the first record a crypto/tls client sends for sni.
func clientHelloRecord(t *testing.T, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	defer c.Close()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// TestStalledHandshakesHoldNoTurn, through real sockets with a single
// turn: clients that stop in the middle of their handshake (after the
// ClientHello, and before its end on a listener without the inspector)
// keep their connections open, and another client's handshake and request
// still go through at once rather than after the stalled ones time out.
func TestStalledHandshakesHoldNoTurn(t *testing.T) {
	f := newTLSFixture(t, func(p *Proxy) { p.turns = newHandshakeTurns(1) })
	hello := clientHelloRecord(t, "a.example.com")

	afterHello, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer afterHello.Close()
	afterHello.Write(hello)
	// The server's flight is out once its first bytes are here; the
	// client never answers it.
	if _, err := io.ReadFull(afterHello, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	body, _ := httpsGet(t, f.addr, "a.example.com")
	if e := parseEcho(body); e.Backend != "a" {
		t.Fatalf("while a client stalled after its ClientHello: reached %q", e.Backend)
	}

	// A listener without the inspector reads the ClientHello in the
	// handshake itself: half of one, then nothing.
	certC, keyC := selfSigned(t, "c.example.com")
	f.res.Secrets["cert-c"] = secret("cert-c", certC, keyC)
	f.res.Listeners["plain-tls"] = listener(t, "plain-tls", 0, false,
		chain("https-c", nil, tlsSocket(t, "cert-c"), hcmFilter(t, hcm(t, "rc-a"))))
	applyAll(t, f.p, f.res)
	addr := f.p.ListenerAddr("plain-tls").String()
	halfHello, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer halfHello.Close()
	halfHello.Write(hello[:len(hello)/2])
	time.Sleep(50 * time.Millisecond) // let the server start the handshake and wait in it
	for a, sni := range map[string]string{addr: "c.example.com", f.addr: "a.example.com"} {
		body, _ := httpsGet(t, a, sni)
		if e := parseEcho(body); e.Backend != "a" {
			t.Fatalf("%s while a client stalled inside its ClientHello: reached %q", a, e.Backend)
		}
	}
	if n := len(f.p.turns.slots); n != 0 {
		t.Errorf("%d turns held while only stalled handshakes are open", n)
	}
}

// TestBlockedFlightHoldsNoTurn: a server flight larger than the socket's
// buffers waits for the client's window; a client that never opens it
// must not hold the only turn while the server waits to write, or every
// other handshake would wait for the handshake timeout.
func TestBlockedFlightHoldsNoTurn(t *testing.T) {
	f := newTLSFixture(t, func(p *Proxy) { p.turns = newHandshakeTurns(1) })
	// A chain (the leaf, then copies of it, which the server sends as they
	// are) 2 MiB longer than a socket's send buffer may grow, so that its
	// write waits for the client.
	leaf, key := selfSigned(t, "big.example.com")
	size := min(maxSendBuffer()+2<<20, 15<<20) // a handshake message is under 16 MiB
	f.res.Secrets["cert-big"] = secret("cert-big", bytes.Repeat(leaf, size/(len(leaf)*3/4)+1), key)
	f.res.Listeners["big-tls"] = listener(t, "big-tls", 0, false,
		chain("https-big", nil, tlsSocket(t, "cert-big"), hcmFilter(t, hcm(t, "rc-a"))))
	applyAll(t, f.p, f.res)

	// The client offers a small receive window and never reads.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	stuck, err := d.Dial("tcp", f.p.ListenerAddr("big-tls").String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.Write(clientHelloRecord(t, "big.example.com"))
	time.Sleep(100 * time.Millisecond) // let the server compute and start writing

	body, _ := httpsGet(t, f.addr, "a.example.com")
	if e := parseEcho(body); e.Backend != "a" {
		t.Fatalf("while a flight waited for a closed window: reached %q", e.Backend)
	}
	if n := len(f.p.turns.slots); n != 0 {
		t.Errorf("%d turns held while only a blocked flight is open", n)
	}
}

// maxSendBuffer is the most a TCP socket's send buffer grows to
// (net.ipv4.tcp_wmem's maximum; 4 MiB, Linux's default, if unreadable).
func maxSendBuffer() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if f := strings.Fields(string(b)); err == nil && len(f) == 3 {
		if n, err := strconv.Atoi(f[2]); err == nil {
			return n
		}
	}
	return 4 << 20
}
