package proxy

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/h2attack"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestH2StalledRequestBodyTimesOut: over HTTP/2 too, the route timeout
// covers a client that stops sending its declared body (the upstream
// exchange bounds it with http.ResponseController.SetReadDeadline, which
// the HTTP/2 server must honour); the client gets 504.
func TestH2StalledRequestBodyTimesOut(t *testing.T) {
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	base := h1Proxy(t, b.addr, 200*time.Millisecond)
	pr, pw := io.Pipe()
	defer pw.Close()
	go io.WriteString(pw, "0123456789") // then nothing
	req, err := http.NewRequest("POST", base+"/upload", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1000
	c := h2cClient()
	c.Timeout = 30 * time.Second // liveness only: the bug hangs
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("no answer to an HTTP/2 request whose body stalled: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("stalled HTTP/2 request body: %s %d, want HTTP/2.0 504", resp.Proto, resp.StatusCode)
	}
}

// countingConn counts the writes on a server's connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// h2ServeCounting serves one connection of srv with h, its writes
// counted: the listener's address, and the connection once accepted.
func h2ServeCounting(t *testing.T, srv *h2Server, h http.Handler) (addr string, conns <-chan *countingConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *countingConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cc := &countingConn{Conn: c}
		ch <- cc
		srv.serveConn(cc, nil, context.Background(), h, false)
	}()
	return ln.Addr().String(), ch
}

// TestH2ResponseInOneWrite: the HEADERS and DATA frames of a small
// response leave in one write on the connection (x/net/http2's server
// needed two, one per frame); with 8 streams at a time no response takes
// more than one write (responses finished while another write is under
// way share the next one: the log shows how many writes there were).
func TestH2ResponseInOneWrite(t *testing.T) {
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	addr, conns := h2ServeCounting(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	c := h2cClient()
	get := func() {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != "hello" || resp.Header.Get("Content-Length") != "5" {
			t.Errorf("%s %d %q (content-length %q)", resp.Proto, resp.StatusCode, body, resp.Header.Get("Content-Length"))
		}
	}
	get() // settings exchanged, the connection up
	cc := <-conns
	before := cc.writes.Load()
	get()
	if n := cc.writes.Load() - before; n != 1 {
		t.Errorf("one response took %d writes, want 1", n)
	}

	before = cc.writes.Load()
	const streams, each = 8, 25
	done := make(chan struct{})
	for range streams {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				get()
			}
		}()
	}
	for range streams {
		<-done
	}
	n := cc.writes.Load() - before
	t.Logf("%d responses on %d concurrent streams: %d writes", streams*each, streams, n)
	if n > streams*each {
		t.Errorf("%d writes for %d responses: responses are not batched", n, streams*each)
	}
}

// TestH2ResponsesFinishedTogetherShareAWrite: two handlers of one
// connection that finish together send their responses in one write:
// the first to finish yields to the other before flushing (unlockLast).
// One P, so that "together" means both runnable at once, as handlers
// whose upstream answers came in one poll are in the data plane. Every
// round took 2 writes when the first handler did not count the second
// as still running (its own count already removed). One round in five
// may take 2 anyway: once in 61 schedules the scheduler takes a
// goroutine from the global queue, where the yield put the first handler,
// before the local one (the second handler); each round starts one
// schedule later than the last, so the same phase cannot fail them all.
func TestH2ResponsesFinishedTogetherShareAWrite(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	const rounds = 5
	var entered sync.WaitGroup
	release := make([]chan struct{}, rounds) // one per round, made before the server starts
	for i := range release {
		release[i] = make(chan struct{})
	}
	addr, conns := h2ServeCounting(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if round, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/held/")); err == nil {
			entered.Done()
			<-release[round]
		}
		io.WriteString(w, "hello")
	}))
	c := h2cClient()
	get := func(path string) error {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != "hello" {
			return fmt.Errorf("%s %d %q", resp.Proto, resp.StatusCode, body)
		}
		return nil
	}
	if err := get("/"); err != nil { // settings exchanged, the connection up
		t.Fatal(err)
	}
	cc := <-conns
	var writes []int64
	for round := range rounds {
		entered.Add(2)
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- get("/held/" + strconv.Itoa(round)) }()
		}
		entered.Wait()
		for range round {
			runtime.Gosched() // shifts the scheduler's phase (above)
		}
		before := cc.writes.Load()
		close(release[round])
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		writes = append(writes, cc.writes.Load()-before)
	}
	split := 0
	for _, n := range writes {
		if n != 1 {
			split++
		}
	}
	if split > 1 {
		t.Errorf("two responses finished together: writes per round %v, want 1 in all rounds but at most one", writes)
	}
}

// TestH2Timeouts: a connection that sends the preface and SETTINGS but no
// request is closed after request_headers_timeout (the read header
// timeout covers the preface and the first request head), and one that
// served a request and went quiet is closed with GOAWAY(NO_ERROR) after
// the idle timeout. Liveness only: each waits up to 10 s for the close.
func TestH2Timeouts(t *testing.T) {
	b := startHandlerBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	h := hcm(t, "rc")
	// Both run from the connection's start (a connection without streams
	// is idle): long enough for the second connection's dial, SETTINGS
	// and request on a loaded machine.
	h.RequestHeadersTimeout = durationpb.New(time.Second)
	h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Second)}
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	addr := p.ListenerAddr("l").String()

	silent, err := h2attack.Dial(addr, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if !silent.WaitEnded(10 * time.Second) {
		t.Error("a connection without a request head stayed open past request_headers_timeout")
	}

	idle, err := h2attack.Dial(addr, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.ServerSettings(5 * time.Second)
	if _, err := idle.Request("/"); err != nil {
		t.Fatal(err)
	}
	if !idle.WaitEnded(10 * time.Second) {
		t.Fatal("an idle connection stayed open past the idle timeout")
	}
	o := idle.Outcome()
	if o.Answers != 1 || o.GoAway == nil || *o.GoAway != http2.ErrCodeNo {
		t.Errorf("idle connection: %d answers, GOAWAY %v; want 1 and NO_ERROR", o.Answers, o.GoAway)
	}
}

// TestH2DrainFinishesStreams: Shutdown sends a graceful GOAWAY; a stream
// in flight is answered, and the connection then closes.
func TestH2DrainFinishesStreams(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	b := startHandlerBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	p := New(testLogger())
	res := newResources()
	addCluster(res, "b", b)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)
	c, err := h2attack.Dial(p.ListenerAddr("l").String(), "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ServerSettings(5 * time.Second)
	if _, err := c.Request("/"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second): // liveness only
		t.Fatal("the request never reached the backend")
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- p.Shutdown(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for c.Outcome().GoAway == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := c.Outcome().GoAway; g == nil || *g != http2.ErrCodeNo {
		t.Fatalf("no graceful GOAWAY on Shutdown: %v", g)
	}
	close(release)
	if err := <-drained; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if !c.WaitEnded(10 * time.Second) {
		t.Error("the connection stayed open after the drain")
	}
	if o := c.Outcome(); o.Answers != 1 {
		t.Errorf("the stream in flight during the drain: %d answers, want 1", o.Answers)
	}
}

// TestH2ClientThatDoesNotRead: a client that makes the server answer
// (DATA on a stream it reset: RST_STREAM each) and never reads gets its
// connection closed once the server holds a bounded backlog, instead of
// the server buffering without end (x/net/http2 bounded its queued
// control frames the same way).
func TestH2ClientThatDoesNotRead(t *testing.T) {
	srv := newH2Server(DefaultLimits(), log.New(io.Discard, "", 0))
	_, fr, ended := h2RawServer(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82, 0x86, 0x84}, EndHeaders: true}) // GET http /
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	const budget = 64 << 20
	var written int
	for written < budget {
		if err := fr.WriteData(1, false, nil); err != nil {
			break // the server closed the connection
		}
		written += 9
	}
	select {
	case <-ended:
	case <-time.After(20 * time.Second): // liveness only
		t.Fatalf("the server still serves a client that has not read anything after %d bytes", written)
	}
	t.Logf("closed after the client wrote %d bytes", written)
}
