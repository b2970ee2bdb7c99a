package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/h2attack"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// h2Target is a proxy with an h2c socket and a TLS socket (ALPN h2) in
// front of one backend that counts the requests it sees; /slow holds a
// request until release is closed.
type h2Target struct {
	p         *Proxy
	plain     string // h2c
	tls       string // ALPN h2, a.example.com
	seen      atomic.Int64
	inFlight  atomic.Int64
	maxFlight atomic.Int64
	release   chan struct{}
}

func newH2Target(t *testing.T) *h2Target {
	t.Helper()
	tg := &h2Target{release: make(chan struct{})}
	b := startHandlerBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.seen.Add(1)
		if r.URL.Path == "/slow" {
			n := tg.inFlight.Add(1)
			for m := tg.maxFlight.Load(); n > m && !tg.maxFlight.CompareAndSwap(m, n); m = tg.maxFlight.Load() {
			}
			defer tg.inFlight.Add(-1)
			select {
			case <-tg.release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	tg.p = newProxy(t)
	res := newResources()
	addCluster(res, "b", b)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	cert, key := selfSigned(t, "a.example.com")
	res.Secrets["cert"] = secret("cert", cert, key)
	res.Listeners["plain"] = listener(t, "plain", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	res.Listeners["tls"] = listener(t, "tls", 0, true, chain("https", []string{"a.example.com"}, tlsSocketALPN(t, []string{"h2", "http/1.1"}, "cert"), hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, tg.p, res)
	tg.plain = tg.p.ListenerAddr("plain").String()
	tg.tls = tg.p.ListenerAddr("tls").String()
	return tg
}

// startHandlerBackend serves h over HTTP/1.1 and returns its address.
func startHandlerBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	s := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

var attackTLS = &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}

// h2Mode is one of the two ways HTTP/2 reaches a socket.
type h2Mode struct {
	name string
	addr func(*h2Target) string
	tls  *tls.Config
	// client is a normal HTTP/2 client of the same socket.
	client func() *http.Client
	base   func(*h2Target) string
}

var h2Modes = []h2Mode{
	{name: "h2c", addr: func(t *h2Target) string { return t.plain }, client: h2cClient,
		base: func(t *h2Target) string { return "http://" + t.plain }},
	{name: "tls", addr: func(t *h2Target) string { return t.tls }, tls: attackTLS, client: func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: attackTLS.Clone(), ForceAttemptHTTP2: true}}
	}, base: func(t *h2Target) string { return "https://" + t.tls }},
}

func (m h2Mode) dial(t *testing.T, tg *h2Target) *h2attack.Conn {
	t.Helper()
	c, err := h2attack.Dial(m.addr(tg), "a.example.com", m.tls)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// normalClient requests base+"/" over HTTP/2 on its own connection until
// stop is closed; it returns the statuses (or errors) it got.
func normalClient(c *http.Client, base string, stop <-chan struct{}) func() (ok int, bad []string) {
	var mu sync.Mutex
	var okN int
	var badL []string
	done := make(chan struct{})
	get := func() {
		resp, err := c.Get(base + "/")
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			badL = append(badL, err.Error())
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			badL = append(badL, fmt.Sprintf("%s %d", resp.Proto, resp.StatusCode))
			return
		}
		okN++
	}
	go func() {
		defer close(done)
		for {
			get()
			select {
			case <-stop:
				get() // and once after the attack
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() (int, []string) {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return okN, badL
	}
}

// TestH2RapidReset: streams opened and reset at once (CVE-2023-44487) get
// the connection closed after a bounded number of streams, the backend
// sees a bounded number of requests, and other clients are served
// throughout.
func TestH2RapidReset(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) {
			tg := newH2Target(t)
			stop := make(chan struct{})
			wait := normalClient(m.client(), m.base(tg), stop)
			c := m.dial(t, tg)
			before := tg.seen.Load()
			opened := c.RapidReset("/", 20000, 10*time.Second)
			ended := c.WaitEnded(10 * time.Second)
			attackSeen := tg.seen.Load() - before
			close(stop)
			ok, bad := wait()
			t.Logf("streams opened %d, backend requests during the attack %d (incl. normal client), normal ok %d", opened, attackSeen, ok)
			if !ended {
				t.Fatalf("connection still open after %d rapid resets: %+v", opened, c.Outcome())
			}
			// The guard closes at 250 premature resets (without it, about
			// 400-500 of 10 000 reset streams reach the backend); the
			// normal client adds its own requests.
			if limit := int64(300 + ok); attackSeen > limit {
				t.Errorf("backend saw %d requests, want at most %d", attackSeen, limit)
			}
			if ok < 2 || len(bad) > 0 {
				t.Errorf("normal client: %d ok, failures %v", ok, bad)
			}
		})
	}
}

// TestH2ContinuationFlood: a header block that never ends (CVE-2024-27316)
// gets the connection closed after a bounded number of bytes, whether its
// CONTINUATION frames carry headers (Go's own limit) or nothing (the
// guard's frame count).
func TestH2ContinuationFlood(t *testing.T) {
	for _, m := range h2Modes {
		for _, withHeaders := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/headers=%v", m.name, withHeaders), func(t *testing.T) {
				tg := newH2Target(t)
				c := m.dial(t, tg)
				const budget = 64 << 20
				c.ContinuationFlood("/", withHeaders, budget, 10*time.Second)
				if !c.WaitEnded(10 * time.Second) {
					t.Fatalf("connection open after %d bytes of CONTINUATION", c.Written())
				}
				// Loopback socket buffers hold a few MiB that were written
				// but never read by the server.
				if c.Written() >= budget {
					t.Errorf("%d bytes written before the close", c.Written())
				}
				t.Logf("closed after %d bytes written", c.Written())
				if r := do(t, m.client(), "GET", m.base(tg)+"/", "", nil); r.status != 200 {
					t.Errorf("after the flood: %d", r.status)
				}
			})
		}
	}
}

// TestH2ControlFloods: PING and SETTINGS floods get the connection closed
// even when the client reads every acknowledgement.
func TestH2ControlFloods(t *testing.T) {
	for _, m := range h2Modes {
		for _, kind := range []string{"ping", "settings"} {
			t.Run(m.name+"/"+kind, func(t *testing.T) {
				tg := newH2Target(t)
				c := m.dial(t, tg)
				var sent int
				if kind == "ping" {
					sent = c.PingFlood(20000, 10*time.Second)
				} else {
					sent = c.SettingsFlood(20000, 10*time.Second)
				}
				if !c.WaitEnded(10 * time.Second) {
					t.Fatalf("connection open after %d %s frames", sent, kind)
				}
				if r := do(t, m.client(), "GET", m.base(tg)+"/", "", nil); r.status != 200 {
					t.Errorf("after the flood: %d", r.status)
				}
			})
		}
	}
}

// TestH2StreamLimit: streams beyond MaxConcurrentStreams (100) are refused
// with RST_STREAM; the backend never sees more than 100 at once from one
// connection, and the admitted ones complete.
func TestH2StreamLimit(t *testing.T) {
	for _, m := range h2Modes {
		t.Run(m.name, func(t *testing.T) {
			tg := newH2Target(t)
			c := m.dial(t, tg)
			c.ServerSettings(5 * time.Second)
			for range 150 {
				if _, err := c.Request("/slow"); err != nil {
					t.Fatal(err)
				}
			}
			refused := func(o h2attack.Outcome) int {
				return o.Resets[http2.ErrCodeRefusedStream] + o.Resets[http2.ErrCodeProtocol]
			}
			deadline := time.Now().Add(10 * time.Second)
			for (tg.inFlight.Load() < 100 || refused(c.Outcome()) < 50) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			o := c.Outcome()
			if refused(o) != 50 || tg.inFlight.Load() != 100 {
				t.Fatalf("refused %d (resets %v), backend in flight %d; want 50 and 100", refused(o), o.Resets, tg.inFlight.Load())
			}
			close(tg.release)
			for c.Outcome().Answers < 100 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if a := c.Outcome().Answers; a != 100 || tg.maxFlight.Load() > 100 {
				t.Errorf("answers %d, backend max in flight %d", a, tg.maxFlight.Load())
			}
		})
	}
}

// TestH2SettingsFromXDS: the HCM's http2_protocol_options set what the
// socket advertises (SETTINGS and the connection window) and enforces; a
// socket without them advertises the defaults.
func TestH2SettingsFromXDS(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	b := startHandlerBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	h := hcm(t, "rc")
	h.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{MaxConcurrentStreams: wrapperspb.UInt32(7),
		InitialStreamWindowSize: wrapperspb.UInt32(128 << 10), InitialConnectionWindowSize: wrapperspb.UInt32(4 << 20)}
	res.Listeners["set"] = listener(t, "set", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	res.Listeners["default"] = listener(t, "default", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)

	for _, tc := range []struct {
		listener           string
		streams, streamWin uint32
		connWin            uint32
	}{{"set", 7, 128 << 10, 4 << 20}, {"default", 100, 64 << 10, 1 << 20}} {
		c, err := h2attack.Dial(p.ListenerAddr(tc.listener).String(), "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := map[http2.SettingID]uint32{}
		for _, s := range c.ServerSettings(5 * time.Second) {
			got[s.ID] = s.Val
		}
		if got[http2.SettingMaxConcurrentStreams] != tc.streams || got[http2.SettingInitialWindowSize] != tc.streamWin {
			t.Errorf("%s: SETTINGS %v, want %d streams, window %d", tc.listener, got, tc.streams, tc.streamWin)
		}
		deadline := time.Now().Add(5 * time.Second)
		for c.Outcome().ConnWin+65535 < tc.connWin && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if w := c.Outcome().ConnWin + 65535; w != tc.connWin {
			t.Errorf("%s: connection window %d, want %d", tc.listener, w, tc.connWin)
		}
	}

	// Enforced: of 10 streams on "set", 3 are refused.
	c, err := h2attack.Dial(p.ListenerAddr("set").String(), "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ServerSettings(5 * time.Second)
	for range 10 {
		c.Request("/")
	}
	deadline := time.Now().Add(5 * time.Second)
	refused := func() int {
		o := c.Outcome()
		return o.Resets[http2.ErrCodeRefusedStream] + o.Resets[http2.ErrCodeProtocol]
	}
	for (refused() < 3 || inFlight.Load() < 7) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if refused() != 3 || inFlight.Load() != 7 {
		t.Errorf("max_concurrent_streams 7: %d refused, %d at the backend; want 3 and 7", refused(), inFlight.Load())
	}
}
