package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// h2cClient speaks HTTP/2 with prior knowledge on plain connections only.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: p}}
}

// startH2CBackend serves h (HTTP/2 prior knowledge only, no HTTP/1.1).
func startH2CBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func h2cClusterOptions(t testing.TB) map[string]*anypb.Any {
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(t, &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}}})}
}

// TestDownstreamH2C: a plain HTTP socket serves HTTP/1.1 and h2c with prior
// knowledge side by side, both routed by the same table.
func TestDownstreamH2C(t *testing.T) {
	b := startBackend(t, "b")
	_, _, base := httpSetup(t, routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b"))), map[string][]string{"b": {backendAddr(b)}})

	resp, err := h2cClient().Get(base + "/h2c")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || parseEcho(string(body)).URI != "/h2c" {
		t.Fatalf("h2c: %s %d %s", resp.Proto, resp.StatusCode, body)
	}
	r := do(t, client(), "GET", base+"/h1", "", nil)
	if r.status != 200 || r.echo.URI != "/h1" {
		t.Fatalf("http/1.1 on the same socket: %d %+v", r.status, r.echo)
	}
}

// TestDownstreamH2OverTLS: ALPN h2 is negotiated on an HTTPS chain that
// advertises it, and HTTP/1.1 clients keep working on the same socket.
func TestDownstreamH2OverTLS(t *testing.T) {
	b := startBackend(t, "b")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", backendAddr(b))
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	cert, key := selfSigned(t, "a.example.com")
	res.Secrets["cert"] = secret("cert", cert, key)
	res.Listeners["tls"] = listener(t, "tls", 0, true, chain("https", []string{"a.example.com"}, tlsSocketALPN(t, []string{"h2", "http/1.1"}, "cert"), hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)
	addr := p.ListenerAddr("tls").String()

	for _, tc := range []struct {
		offer []string
		major int
		alpn  string
	}{{[]string{"h2", "http/1.1"}, 2, "h2"}, {[]string{"http/1.1"}, 1, "http/1.1"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: tc.offer}, ForceAttemptHTTP2: tc.major == 2}
		if tc.major == 1 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.ProtoMajor != tc.major || resp.TLS.NegotiatedProtocol != tc.alpn || resp.StatusCode != 200 || parseEcho(string(body)).Backend != "b" {
			t.Errorf("offer %v: %s alpn %q %d %s", tc.offer, resp.Proto, resp.TLS.NegotiatedProtocol, resp.StatusCode, body)
		}
	}
}

// tlsSocketALPN is tlsSocket advertising the given ALPN protocols.
func tlsSocketALPN(t testing.TB, alpn []string, secrets ...string) *corev3.TransportSocket {
	ctc := &tlsv3.CommonTlsContext{AlpnProtocols: alpn}
	for _, s := range secrets {
		ctc.TlsCertificateSdsSecretConfigs = append(ctc.TlsCertificateSdsSecretConfigs, &tlsv3.SdsSecretConfig{Name: s, SdsConfig: ads()})
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: ctc})}}
}

// TestUpstreamH2C: a cluster with http2_protocol_options reaches an
// h2c-only backend, whatever the client's protocol.
func TestUpstreamH2C(t *testing.T) {
	addr := startH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}))
	p := newProxy(t)
	res := newResources()
	addCluster(res, "h2c", addr)
	res.Clusters["h2c"].TypedExtensionProtocolOptions = h2cClusterOptions(t)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "h2c")))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)
	base := "http://" + p.ListenerAddr("http").String()
	if r := do(t, client(), "GET", base+"/one", "", nil); r.status != 200 || r.body != "HTTP/2.0 /one" {
		t.Errorf("http/1.1 client: %d %q", r.status, r.body)
	}
	if r := do(t, h2cClient(), "GET", base+"/two", "", nil); r.status != 200 || r.body != "HTTP/2.0 /two" {
		t.Errorf("h2c client: %d %q", r.status, r.body)
	}
	// Without the options the cluster speaks HTTP/1.1, which the backend
	// does not understand: the switch is real.
	res2 := clone(res)
	res2.Clusters["h2c"] = edsCluster("h2c")
	applyAll(t, p, res2)
	if r := do(t, client(), "GET", base+"/three", "", nil); r.status != http.StatusBadGateway {
		t.Errorf("http/1.1 to an h2c backend: %d %q", r.status, r.body)
	}
}

// TestGRPCStyleStreaming: over h2c end to end, a bidirectional stream
// interleaves request and response messages through the proxy, and
// trailers (as gRPC sends its status) reach the client.
func TestGRPCStyleStreaming(t *testing.T) {
	addr := startH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		sc := bufio.NewScanner(r.Body)
		n := 0
		for sc.Scan() {
			n++
			fmt.Fprintf(w, "echo %s\n", sc.Text())
			w.(http.Flusher).Flush()
		}
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", fmt.Sprintf("%d messages", n))
	}))
	p := newProxy(t)
	res := newResources()
	addCluster(res, "g", addr)
	res.Clusters["g"].TypedExtensionProtocolOptions = h2cClusterOptions(t)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, toCluster(prefixMatch("/"), "g")))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+p.ListenerAddr("http").String()+"/svc/Method", pr)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	// Each reply is read before the next message is sent: the stream is
	// really interleaved, not buffered until the request ends.
	for i := range 3 {
		fmt.Fprintf(pw, "m%d\n", i)
		line, err := rd.ReadString('\n')
		if err != nil || line != fmt.Sprintf("echo m%d\n", i) {
			t.Fatalf("message %d: %q %v", i, line, err)
		}
	}
	pw.Close()
	if rest, _ := io.ReadAll(rd); len(rest) != 0 {
		t.Fatalf("unexpected data %q", rest)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "3 messages" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

// TestWebSocketUpgrade: an HTTP/1.1 Upgrade allowed by upgrade_configs is
// proxied as a bidirectional stream that outlives the route timeout; an
// upgrade type not configured is refused with 403, and h2c upgrades are
// ignored (served as HTTP/1.1).
func TestWebSocketUpgrade(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			fmt.Fprintf(w, "plain %s", r.Proto)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	p := newProxy(t)
	res := newResources()
	addCluster(res, "ws", ln.Addr().String())
	rt := toCluster(prefixMatch("/"), "ws")
	// Short enough to be outlived below, long enough for the plain
	// requests of this test on a loaded machine.
	rt.GetRoute().Timeout = durationpb.New(500 * time.Millisecond)
	res.Routes["rc"] = routeConfig("rc", vhost("v", []string{"*"}, rt))
	h := hcm(t, "rc")
	h.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	addr := p.ListenerAddr("http").String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for i := range 3 {
		if i == 2 {
			// Longer than the route timeout: the stream is not cut.
			time.Sleep(1200 * time.Millisecond)
		}
		fmt.Fprintf(c, "m%d\n", i)
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("echo m%d\n", i) {
			t.Fatalf("frame %d: %q %v", i, line, err)
		}
	}

	if r := do(t, client(), "GET", "http://"+addr+"/", "", map[string]string{"Upgrade": "foo", "Connection": "Upgrade"}); r.status != http.StatusForbidden {
		t.Errorf("unconfigured upgrade: %d", r.status)
	}
	if r := do(t, client(), "GET", "http://"+addr+"/", "", map[string]string{"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings", "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"}); r.status != 200 || r.body != "plain HTTP/1.1" {
		t.Errorf("h2c upgrade: %d %q", r.status, r.body)
	}
	// Without upgrade_configs a WebSocket upgrade is refused.
	res2 := clone(res)
	res2.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	applyAll(t, p, res2)
	if r := do(t, client(), "GET", "http://"+addr+"/", "", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}); r.status != http.StatusForbidden {
		t.Errorf("websocket without upgrade_configs: %d", r.status)
	}
}

// TestMisdirectedRequest: on an HTTP/2 connection whose SNI chose one
// chain, a request for a host of another chain (which the certificate also
// covers, so the client coalesces) is answered 421 on the same connection,
// and the connection keeps serving its own host.
func TestMisdirectedRequest(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	addCluster(res, "b", backendAddr(b))
	res.Routes["rc-a"] = routeConfig("rc-a", vhost("a", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	res.Routes["rc-b"] = routeConfig("rc-b", vhost("b", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	cert, key := selfSigned(t, "a.example.com", "b.example.com")
	res.Secrets["cert"] = secret("cert", cert, key)
	h2 := []string{"h2", "http/1.1"}
	res.Listeners["tls"] = listener(t, "tls", 0, true,
		chain("a", []string{"a.example.com"}, tlsSocketALPN(t, h2, "cert"), hcmFilter(t, hcm(t, "rc-a"))),
		chain("b", []string{"b.example.com"}, tlsSocketALPN(t, h2, "cert"), hcmFilter(t, hcm(t, "rc-b"))))
	applyAll(t, p, res)
	addr := p.ListenerAddr("tls").String()

	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var conns []net.Conn
	get := func(host string) (int, string, string) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.Host = host
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn) }}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Proto, parseEcho(string(body)).Backend
	}
	if st, proto, be := get("a.example.com"); st != 200 || proto != "HTTP/2.0" || be != "a" {
		t.Fatalf("own host: %d %s %q", st, proto, be)
	}
	if st, _, _ := get("b.example.com:443"); st != http.StatusMisdirectedRequest {
		t.Errorf("other chain's host: %d, want 421", st)
	}
	if st, _, be := get("a.example.com"); st != 200 || be != "a" {
		t.Errorf("own host after 421: %d %q", st, be)
	}
	if len(conns) != 3 || conns[0] != conns[1] || conns[1] != conns[2] {
		t.Errorf("requests did not share one connection: %v", conns)
	}
	// The other host on its own connection is served.
	tr2 := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "b.example.com", InsecureSkipVerify: true}}
	defer tr2.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = "b.example.com"
	resp, err := (&http.Client{Transport: tr2}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || parseEcho(string(body)).Backend != "b" {
		t.Errorf("b on its own connection: %d %s", resp.StatusCode, body)
	}
}

// TestStripPort: stripPort's allocation-free path for authorities without
// a colon or brackets agrees with what net.SplitHostPort makes of every
// authority (its host, or the authority without brackets when it fails).
func TestStripPort(t *testing.T) {
	reference := func(authority string) string {
		if h, _, err := net.SplitHostPort(authority); err == nil {
			return h
		}
		return strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]")
	}
	for _, in := range []string{"", "www.example.com", "www.example.com:443", "www.example.com:", "1.2.3.4", "1.2.3.4:80",
		"::1", "[::1]", "[::1]:443", "[::1", "::1]", "a:b:c", "[a]b", "x]", "[x", ":443", "www.example.com.", "WWW.Example.COM"} {
		if got, want := stripPort(in), reference(in); got != want {
			t.Errorf("stripPort(%q) = %q, net.SplitHostPort gives %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { stripPort("www.example.com") }); n != 0 {
		t.Errorf("stripPort of a name without a port allocates %v times, want 0", n)
	}
}
