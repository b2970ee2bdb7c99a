package proxy

import (
	"crypto/tls"
	"io"
	"net"
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
// waits for the client before anything was written, and given up for good
// at the first read after a write.
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
	go io.ReadAll(client)
	c.Write([]byte("flight"))
	if !held() {
		t.Fatal("the turn was given back at the write")
	}
	go client.Write([]byte("finished"))
	c.Read(buf)
	if held() || c.turns != nil {
		t.Fatal("the turn was still held after the first read that followed a write")
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
