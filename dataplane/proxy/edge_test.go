package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	connlimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/connection_limit/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// rawRequest writes req on a fresh connection to addr and returns the
// status line of the answer ("" if the connection closed without one).
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestHeaderLimitsFromXDS(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	h := hcm(t, "main")
	h.MaxRequestHeadersKb = wrapperspb.UInt32(2)
	h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxHeadersCount: wrapperspb.UInt32(8)}
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	res.Listeners["d"] = listener(t, "d", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "main"))))
	applyAll(t, p, res)
	addr := p.ListenerAddr("l").String()

	few := map[string]string{"X-A": "1", "X-B": "2"}
	if r := do(t, client(), "GET", "http://"+addr+"/", "x", few); r.status != 200 {
		t.Fatalf("within limits: %d", r.status)
	}
	many := map[string]string{}
	for _, k := range strings.Fields("A B C D E F G H I") {
		many["X-"+k] = "v"
	}
	if r := do(t, client(), "GET", "http://"+addr+"/", "x", many); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("9+ headers over max_headers_count 8: %d, want 431", r.status)
	}
	// 2 KiB plus net/http's 4 KiB slack: 8 KiB of header is over.
	big := map[string]string{"X-Big": strings.Repeat("b", 8<<10)}
	if r := do(t, client(), "GET", "http://"+addr+"/", "x", big); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KiB header over max_request_headers_kb 2: %d, want 431", r.status)
	}
	// Defaults on the other listener: 100 headers.
	hundred := map[string]string{}
	for i := range 101 {
		hundred["X-H"+strings.Repeat("x", i)] = "v"
	}
	dAddr := p.ListenerAddr("d").String()
	if r := do(t, client(), "GET", "http://"+dAddr+"/", "x", hundred); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("over 100 headers by default: %d, want 431", r.status)
	}
	if r := do(t, client(), "GET", "http://"+dAddr+"/", "x", many); r.status != 200 {
		t.Errorf("9 headers by default: %d", r.status)
	}
}

func TestMalformedRequestsGet400(t *testing.T) {
	a := startBackend(t, "a")
	p, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a"))), map[string][]string{"a": {backendAddr(a)}})
	_ = p
	addr := strings.TrimPrefix(base, "http://")
	for _, req := range []string{
		// Longer than the HTTP/2 preface, which h2c detection waits for.
		"GARBAGE GARBAGE GARBAGE GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",                                  // no Host
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",         // no colon
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", // invalid length
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", // unsupported coding
		"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
	} {
		line := rawRequest(t, addr, req)
		if !strings.HasPrefix(line, "HTTP/1.1 400") && !strings.HasPrefix(line, "HTTP/1.1 505") && !strings.HasPrefix(line, "HTTP/1.1 501") {
			t.Errorf("%q: got %q, want 400 (505, 501 for versions and codings)", req, line)
		}
	}
	if r := do(t, client(), "GET", base+"/ok", "x", nil); r.status != 200 {
		t.Fatalf("proxy stopped serving after malformed requests: %d", r.status)
	}
}

func TestPathNormalizationDotSegments(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"},
		toCluster(sepPrefixMatch("/public"), "a"),
		directRoute(prefixMatch("/"), 403)))
	h := hcm(t, "main")
	h.NormalizePath = wrapperspb.Bool(true)
	h.MergeSlashes = true
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("l").String()
	for in, want := range map[string]any{
		"/public/../admin":        403,
		"/public/%2e%2e/admin":    403,
		"/public/%2E%2e/admin":    403,
		"/public/.%2e/admin":      403,
		"/a/../public/x":          "/public/x",
		"/public//x///y":          "/public/x/y",
		"/public/%2e/x":           "/public/x",
		"//public/./x/../y":       "/public/y",
		"/public/x/%2e%2e/%2e%2e": 403, // "/" is not under /public
	} {
		r := do(t, client(), "GET", base+in, "x", nil)
		switch w := want.(type) {
		case int:
			if r.status != w {
				t.Errorf("%s: %d, want %d", in, r.status, w)
			}
		case string:
			if r.status != 200 || r.echo.URI != w {
				t.Errorf("%s: %d %q, want 200 %q", in, r.status, r.echo.URI, w)
			}
		}
	}
}

func TestRequestHeadersTimeoutCutsSlowClient(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	h := hcm(t, "main")
	h.RequestHeadersTimeout = durationpb.New(300 * time.Millisecond)
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	c, err := net.Dial("tcp", p.ListenerAddr("l").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Headers trickle in and never end.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
					return
				}
			}
		}
	}()
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the proxy kept the slow connection open")
	}
}

func connLimitFilter(t *testing.T, n uint64) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.connection_limit", ConfigType: &listenerv3.Filter_TypedConfig{
		TypedConfig: mustAny(t, &connlimitv3.ConnectionLimit{StatPrefix: "l", MaxConnections: wrapperspb.UInt64(n)})}}
}

func TestConnectionLimitFilter(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	fc := chain("http", nil, nil, hcmFilter(t, hcm(t, "main")))
	fc.Filters = append([]*listenerv3.Filter{connLimitFilter(t, 2)}, fc.Filters...)
	res.Listeners["l"] = listener(t, "l", 0, false, fc)
	applyAll(t, p, res)
	addr := p.ListenerAddr("l").String()

	open := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	get := func(c net.Conn, br *bufio.Reader) error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	c1, b1 := open()
	c2, b2 := open()
	if get(c1, b1) != nil || get(c2, b2) != nil {
		t.Fatal("connections within the limit failed")
	}
	c3, b3 := open()
	if err := get(c3, b3); err == nil {
		t.Fatal("third connection served over max_connections 2")
	}
	c3.Close()
	c1.Close()
	// The slot is freed when the proxy notices the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c4, b4 := open()
		err := get(c4, b4)
		c4.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a connection closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if get(c2, b2) != nil {
		t.Fatal("kept-alive connection broken")
	}
	c2.Close()
}

func proxyProtocolFilter(t *testing.T) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: "envoy.filters.listener.proxy_protocol",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &proxyprotocolv3.ProxyProtocol{})}}
}

// proxyV2Header builds a v2 PROXY header for an IPv4 TCP connection.
func proxyV2Header(src string, srcPort uint16) []byte {
	h := append([]byte{}, ppV2Sig...)
	h = append(h, 0x21, 0x11, 0, 12)
	h = append(h, net.ParseIP(src).To4()...)
	h = append(h, 127, 0, 0, 1)
	h = binary.BigEndian.AppendUint16(h, srcPort)
	h = binary.BigEndian.AppendUint16(h, 80)
	return h
}

func TestProxyProtocol(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	h := hcm(t, "main")
	h.UseRemoteAddress = wrapperspb.Bool(true)
	l := listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	l.ListenerFilters = []*listenerv3.ListenerFilter{proxyProtocolFilter(t)}
	res.Listeners["l"] = l
	applyAll(t, p, res)
	addr := p.ListenerAddr("l").String()

	for name, tc := range map[string]struct {
		header []byte
		want   string
	}{
		"v1":         {[]byte("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"), "203.0.113.7"},
		"v1 ipv6":    {[]byte("PROXY TCP6 2001:db8::7 ::1 5555 80\r\n"), "2001:db8::7"},
		"v2":         {proxyV2Header("198.51.100.9", 4444), "198.51.100.9"},
		"v1 unknown": {[]byte("PROXY UNKNOWN\r\n"), "127.0.0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(tc.header)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			e := parseEcho(string(body))
			if got := e.Header.Get("X-Forwarded-For"); got != "10.9.9.9, "+tc.want {
				t.Errorf("X-Forwarded-For %q, want %q", got, "10.9.9.9, "+tc.want)
			}
		})
	}
	// Without a header: closed, nothing served.
	if line := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); line != "" {
		t.Errorf("request without PROXY header answered: %q", line)
	}
	for _, bad := range []string{"PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n", "PROXY " + strings.Repeat("x", 200)} {
		if line := rawRequest(t, addr, bad+"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); line != "" {
			t.Errorf("%q: answered %q", bad, line)
		}
	}
}

func TestProxyProtocolNACKedInWrongPlace(t *testing.T) {
	p := newProxy(t)
	res := newResources()
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, directRoute(prefixMatch("/"), 200)))
	l := listener(t, "l", 0, true, chain("http", nil, nil, hcmFilter(t, hcm(t, "main"))))
	// tls_inspector before proxy_protocol: Envoy would read garbage.
	l.ListenerFilters = append(l.ListenerFilters, proxyProtocolFilter(t))
	res.Listeners["l"] = l
	err := p.Apply("type.googleapis.com/envoy.config.listener.v3.Listener", res)
	if err == nil || !strings.Contains(err.Error(), "listener_filters[1]") {
		t.Fatalf("want a NACK naming listener_filters[1], got %v", err)
	}
}

func directRoute(m *routev3.RouteMatch, status uint32) *routev3.Route {
	return &routev3.Route{Name: "direct", Match: m, Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: status}}}
}
