package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/dataplane/accesslog"
	"github.com/edgeway/edgeway/dataplane/config"
	"github.com/edgeway/edgeway/dataplane/metrics"
)

// The proxy hot path, end to end on loopback: client, proxy and backend run
// in this process, so ns/op is a round trip and B/op and allocs/op count
// all three. BenchmarkDirect and BenchmarkDirectTLSHandshake are the same
// client against the same backend without the proxy: the proxy's own cost
// is the difference. The proxy is built as cmd/edgeway builds it (metrics
// on); the access log is off except in BenchmarkForwardAccessLog. Compare
// runs with benchstat (bench/go/README.md), not absolutes across machines.

// benchBody is what every benchmark backend answers: 64 bytes, as the peer
// benchmark's backend (bench/peers), so that the proxy's work dominates.
var benchBody = []byte(strings.Repeat("x", 63) + "\n")

// startFixedBackend serves benchBody to every request.
func startFixedBackend(b *testing.B) string {
	b.Helper()
	s := httptest.NewServer(fixedHandler())
	b.Cleanup(s.Close)
	return backendAddr(s)
}

func fixedHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(benchBody)
	})
}

// benchProxy is a proxy with the options cmd/edgeway gives it.
func benchProxy(b *testing.B, opts ...Option) *Proxy {
	b.Helper()
	p := New(testLogger(), append([]Option{WithMetrics(metrics.New())}, opts...)...)
	b.Cleanup(func() { p.Close() })
	return p
}

// benchHTTP serves rc on a plain HTTP listener of p and returns its base URL.
func benchHTTP(b *testing.B, p *Proxy, rc *config.Resources) string {
	b.Helper()
	applyAll(b, p, rc)
	return "http://" + p.ListenerAddr("http").String()
}

// forwardResources is one plain HTTP listener whose every path goes to
// the weighted clusters (one cluster: a plain forward).
func forwardResources(b *testing.B, weights map[string]uint32, backends map[string]string) *config.Resources {
	res := newResources()
	for name, addr := range backends {
		addCluster(res, name, addr)
	}
	route := toCluster(prefixMatch("/"), "a")
	if len(weights) > 1 {
		route = toWeighted(prefixMatch("/"), weights)
	}
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, route))
	res.Listeners["http"] = listener(b, "http", 0, false, chain("http", nil, nil, hcmFilter(b, hcm(b, "main"))))
	return res
}

// getLoop issues GET url with c until the benchmark ends, checking each
// response and reading its body to the end (so the connection is reused).
// host, when set, is the Host header (url then names the address).
func getLoop(b *testing.B, c *http.Client, url, host string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	b.ReportAllocs()
	report := cpuPerOp(b)
	defer report()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(benchBody)) {
			b.Fatalf("%s: %s, %d bytes", url, resp.Status, n)
		}
	}
}

// BenchmarkForward is one proxied keep-alive HTTP/1.1 GET: the path the
// peer benchmark's HTTP/1.1 scenario exercises, and the one profiled in
// bench/go/PROFILE.md.
func BenchmarkForward(b *testing.B) {
	p := benchProxy(b)
	base := benchHTTP(b, p, forwardResources(b, nil, map[string]string{"a": startFixedBackend(b)}))
	getLoop(b, client(), base+"/x", "")
}

// BenchmarkForwardParallel is BenchmarkForward from 16 concurrent
// keep-alive clients (b.SetParallelism(8) per core on two cores): the
// proxy under contention, shared pools and all.
func BenchmarkForwardParallel(b *testing.B) {
	p := benchProxy(b)
	base := benchHTTP(b, p, forwardResources(b, nil, map[string]string{"a": startFixedBackend(b)}))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 10 * time.Second}
	b.ReportAllocs()
	b.SetParallelism(8)
	report := cpuPerOp(b)
	defer report()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(base + "/x")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Error(resp.Status)
				return
			}
		}
	})
}

// BenchmarkForwardAccessLog is BenchmarkForward with the JSON access log on
// (to io.Discard): the cost of cmd/edgeway's default --access-log stdout
// without the terminal.
func BenchmarkForwardAccessLog(b *testing.B) {
	p := benchProxy(b, WithAccessLog(accesslog.New(io.Discard)))
	base := benchHTTP(b, p, forwardResources(b, nil, map[string]string{"a": startFixedBackend(b)}))
	getLoop(b, client(), base+"/x", "")
}

// BenchmarkForwardWeighted is BenchmarkForward through a 90/10 weighted
// split between two backends.
func BenchmarkForwardWeighted(b *testing.B) {
	p := benchProxy(b)
	base := benchHTTP(b, p, forwardResources(b, map[string]uint32{"a": 90, "b": 10},
		map[string]string{"a": startFixedBackend(b), "b": startFixedBackend(b)}))
	getLoop(b, client(), base+"/x", "")
}

// BenchmarkForwardH2C is one proxied GET as an HTTP/2 stream (h2c with
// prior knowledge on the plain socket, one connection); the upstream is
// HTTP/1.1.
func BenchmarkForwardH2C(b *testing.B) {
	p := benchProxy(b)
	base := benchHTTP(b, p, forwardResources(b, nil, map[string]string{"a": startFixedBackend(b)}))
	getLoop(b, h2cClient(), base+"/x", "")
}

// tlsResources is one TLS listener terminating *.example.com (ECDSA P-256,
// ALPN h2 and http/1.1) in front of backend a.
func tlsResources(b *testing.B, backend string) *config.Resources {
	res := newResources()
	addCluster(res, "a", backend)
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	cert, key := selfSigned(b, "*.example.com")
	res.Secrets["cert"] = secret("cert", cert, key)
	res.Listeners["https"] = listener(b, "https", 0, true,
		chain("https", []string{"*.example.com"}, tlsSocketALPN(b, []string{"h2", "http/1.1"}, "cert"), hcmFilter(b, hcm(b, "main"))))
	return res
}

// tlsClient offers only the given ALPN protocol; keepAlive false opens a
// new connection (a full handshake: no session cache) per request.
func tlsClient(alpn string, keepAlive bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:    &tls.Config{ServerName: "www.example.com", InsecureSkipVerify: true, NextProtos: []string{alpn}},
		DisableCompression: true,
		DisableKeepAlives:  !keepAlive,
		ForceAttemptHTTP2:  alpn == "h2",
	}
	if alpn != "h2" {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// BenchmarkForwardTLS is one proxied keep-alive HTTP/1.1 GET over a
// TLS-terminated connection (the handshake happens once).
func BenchmarkForwardTLS(b *testing.B) {
	p := benchProxy(b)
	applyAll(b, p, tlsResources(b, startFixedBackend(b)))
	getLoop(b, tlsClient("http/1.1", true), "https://"+p.ListenerAddr("https").String()+"/x", "www.example.com")
}

// BenchmarkForwardH2TLS is one proxied GET as an HTTP/2 stream over TLS
// (ALPN h2, one connection).
func BenchmarkForwardH2TLS(b *testing.B) {
	p := benchProxy(b)
	applyAll(b, p, tlsResources(b, startFixedBackend(b)))
	getLoop(b, tlsClient("h2", true), "https://"+p.ListenerAddr("https").String()+"/x", "www.example.com")
}

// BenchmarkForwardTLSHandshake is one proxied HTTP/1.1 GET on a new TLS
// connection (full ECDSA P-256 handshake, both ends in this process): the
// peer benchmark's handshake scenario. BenchmarkDirectTLSHandshake is its
// baseline.
func BenchmarkForwardTLSHandshake(b *testing.B) {
	p := benchProxy(b)
	applyAll(b, p, tlsResources(b, startFixedBackend(b)))
	getLoop(b, tlsClient("http/1.1", false), "https://"+p.ListenerAddr("https").String()+"/x", "www.example.com")
}

// BenchmarkDirect is the baseline of the keep-alive benchmarks: the same
// client and backend, no proxy.
func BenchmarkDirect(b *testing.B) {
	getLoop(b, client(), "http://"+startFixedBackend(b)+"/x", "")
}

// BenchmarkDirectTLSHandshake is the baseline of BenchmarkForwardTLSHandshake:
// a new TLS connection per request straight to a TLS backend with the same
// kind of certificate.
func BenchmarkDirectTLSHandshake(b *testing.B) {
	s := httptest.NewUnstartedServer(fixedHandler())
	certPEM, keyPEM := selfSigned(b, "*.example.com")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	s.StartTLS()
	b.Cleanup(s.Close)
	getLoop(b, tlsClient("http/1.1", false), "https://"+backendAddr(s)+"/x", "")
}

// startEchoBackend echoes every byte back on each connection, and closes
// it after the client's half-close.
func startEchoBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkTCPProxy measures tcp_proxy: "stream" is a 1 KiB write echoed
// back through one established connection (the copy loop), "stream-64k"
// the same with 64 KiB (bulk transfer); "connect" is a new connection per
// operation (accept, upstream dial, a 4-byte exchange with half-close,
// teardown), with the existing test backend.
func BenchmarkTCPProxy(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"stream", 1 << 10}, {"stream-64k", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			p := benchProxy(b)
			res := newResources()
			addCluster(res, "echo", startEchoBackend(b))
			res.Listeners["tcp"] = listener(b, "tcp", 0, false, chain("tcp", nil, nil, tcpFilter(b, map[string]uint32{"echo": 1})))
			applyAll(b, p, res)
			c, err := net.Dial("tcp", p.ListenerAddr("tcp").String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg := bytes.Repeat([]byte("0123456789abcdef"), size.n/16)
			buf := make([]byte, len(msg))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			report := cpuPerOp(b)
			defer report()
			for b.Loop() {
				if len(msg) <= 1<<10 {
					if _, err := c.Write(msg); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Fatal(err)
					}
					continue
				}
				// A large write goes on while the echo comes back, so that
				// it cannot deadlock on full socket buffers.
				werr := make(chan error, 1)
				go func() { _, err := c.Write(msg); werr <- err }()
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				if err := <-werr; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("connect", func(b *testing.B) {
		p := benchProxy(b)
		res := newResources()
		addCluster(res, "echo", startTCPBackend(b, "echo"))
		res.Listeners["tcp"] = listener(b, "tcp", 0, false, chain("tcp", nil, nil, tcpFilter(b, map[string]uint32{"echo": 1})))
		applyAll(b, p, res)
		addr := p.ListenerAddr("tcp").String()
		b.ReportAllocs()
		report := cpuPerOp(b)
		defer report()
		for b.Loop() {
			if reply := tcpExchange(b, addr, "ping"); reply != "echo:ping" {
				b.Fatalf("reply %q", reply)
			}
		}
	})
}

// BenchmarkTLSPassthrough is one new TLS connection per operation routed
// by its SNI to a passthrough chain (ClientHello peek, upstream dial, the
// backend's handshake through the proxy, one HTTP/1.1 GET).
func BenchmarkTLSPassthrough(b *testing.B) {
	getLoop(b, tlsClient("http/1.1", false), passthroughURL(b), "")
}

// BenchmarkTLSPassthroughKeepAlive is one keep-alive HTTP/1.1 GET through
// an established passthrough connection: the tcp_proxy copy loop carrying
// one small TLS record each way.
func BenchmarkTLSPassthroughKeepAlive(b *testing.B) {
	getLoop(b, tlsClient("http/1.1", true), passthroughURL(b), "")
}

// passthroughConns is the peer benchmark's passthrough load: wrk -c64,
// keep-alive.
const passthroughConns = 64

// BenchmarkTLSPassthroughKeepAliveParallel is the peer benchmark's
// passthrough scenario in process: passthroughConns keep-alive connections,
// each with one GET in flight, so that the proxy's goroutines wake and park
// as they do under the harness.
func BenchmarkTLSPassthroughKeepAliveParallel(b *testing.B) {
	url := passthroughURL(b)
	clients := make([]*http.Client, passthroughConns)
	for i := range clients {
		clients[i] = tlsClient("http/1.1", true)
		resp, err := clients[i].Get(url) // the handshake, outside the measurement
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((passthroughConns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	report := cpuPerOp(b)
	defer report()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1))%passthroughConns]
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != int64(len(benchBody)) {
				b.Errorf("%s: %s, %d bytes", url, resp.Status, n)
				return
			}
		}
	})
}

// passthroughURL starts an HTTP/1.1 TLS backend for *.example.com and a
// proxy whose TLS-inspecting listener passes that name through to it, and
// returns the proxy's URL.
func passthroughURL(b *testing.B) string {
	b.Helper()
	s := httptest.NewUnstartedServer(fixedHandler())
	certPEM, keyPEM := selfSigned(b, "*.example.com")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	s.StartTLS()
	b.Cleanup(s.Close)

	p := benchProxy(b)
	res := newResources()
	addCluster(res, "pass", backendAddr(s))
	res.Listeners["tls"] = listener(b, "tls", 0, true,
		chain("pass", []string{"*.example.com"}, nil, tcpFilter(b, map[string]uint32{"pass": 1})))
	applyAll(b, p, res)
	return "https://" + p.ListenerAddr("tls").String() + "/x"
}

// cpuPerOp starts measuring the process's CPU time (user and system, every
// goroutine and the garbage collector); the returned func reports it per
// operation as cpu-ns/op. Unlike ns/op it does not grow when other
// processes compete for the cores, as they do on a shared machine.
func cpuPerOp(b *testing.B) (report func()) {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIsIPLiteral: isIPLiteral (misdirected's allocation-free IP check,
// one allocation saved per TLS request) agrees with net.ParseIP.
func TestIsIPLiteral(t *testing.T) {
	for _, in := range []string{"", "www.example.com", "1password.com", "1.2.3.4", "1.2.3", "::1", "fe80::1", "::ffff:1.2.3.4",
		"a:b", "0", "999.1.1.1", "example", "[::1]", "x.example.com:1"} {
		if got, want := isIPLiteral(in), net.ParseIP(in) != nil; got != want {
			t.Errorf("isIPLiteral(%q) = %v, net.ParseIP says %v", in, got, want)
		}
	}
}

// The peer harness's h2 scenario (bench/peers plan.go, h2load -c8 -m8):
// h2Conns TLS connections with h2Streams requests in flight on each. The
// streams of one connection share its frame reader and writer, which is
// what one-request-at-a-time BenchmarkForwardH2TLS never exercises.
const (
	h2Conns   = 8
	h2Streams = 8
)

// BenchmarkForwardH2TLSConcurrent is h2Conns TLS connections (ALPN h2) to
// the proxy with h2Streams proxied GETs in flight on each; the upstream is
// HTTP/1.1. BenchmarkDirectH2TLSConcurrent is its baseline.
func BenchmarkForwardH2TLSConcurrent(b *testing.B) {
	p := benchProxy(b)
	applyAll(b, p, tlsResources(b, startFixedBackend(b)))
	h2ConcurrentLoop(b, "https://"+p.ListenerAddr("https").String()+"/x")
}

// BenchmarkDirectH2TLSConcurrent is BenchmarkForwardH2TLSConcurrent's
// client straight to an HTTP/2 TLS backend with the same kind of
// certificate: what the client and an HTTP/2 server cost without the proxy.
func BenchmarkDirectH2TLSConcurrent(b *testing.B) {
	s := httptest.NewUnstartedServer(fixedHandler())
	certPEM, keyPEM := selfSigned(b, "*.example.com")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.EnableHTTP2 = true
	s.StartTLS()
	b.Cleanup(s.Close)
	h2ConcurrentLoop(b, s.URL+"/x")
}

// h2ConcurrentLoop runs h2Conns×h2Streams goroutines issuing GET url; each
// connection is its own client (one transport holds one HTTP/2 connection
// per host), and each goroutine stays on one of them.
func h2ConcurrentLoop(b *testing.B, url string) {
	b.Helper()
	clients := make([]*http.Client, h2Conns)
	for i := range clients {
		clients[i] = tlsClient("h2", true)
		getOnce(b, clients[i], url) // the handshake, outside the measurement
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((h2Conns*h2Streams + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	report := cpuPerOp(b)
	defer report()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1))%h2Conns]
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Host = "www.example.com"
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || n != int64(len(benchBody)) {
				b.Errorf("%s: %s %s, %d bytes", url, resp.Proto, resp.Status, n)
				return
			}
		}
	})
}

// getOnce is one checked GET of url with Host www.example.com.
func getOnce(b *testing.B, c *http.Client, url string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Host = "www.example.com"
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		b.Fatalf("%s: %s %s", url, resp.Proto, resp.Status)
	}
}

// BenchmarkH1ResponseHead formats a response head as the HTTP/1.1 loop
// does for every response: one pass over the header map, the fields
// sorted by name, the status line. The fields are those the peer
// benchmark's backend sends, with what a typical application adds.
func BenchmarkH1ResponseHead(b *testing.B) {
	var w h1Writer
	w.init(&h1Client{})
	req := &http.Request{Method: http.MethodGet}
	fields := http.Header{
		"Content-Length": {"64"}, "Content-Type": {"text/plain; charset=utf-8"}, "Date": {"Wed, 25 Nov 2026 20:00:00 GMT"},
		"Cache-Control": {"no-store"}, "Vary": {"Accept-Encoding"}, "X-Request-Id": {"8c5f1a0e-4d9b-4c1e-9a57-1f0e2d3c4b5a"},
		"Server": {"backend"}, "Etag": {`"5f1a0e"`},
	}
	b.ReportAllocs()
	for b.Loop() {
		w.reset(req, nil)
		h := w.Header()
		for k, v := range fields {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		if len(w.head) == 0 {
			b.Fatal("no head")
		}
	}
}
