package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// TestProtocols drives one gateway over real sockets with every protocol
// it speaks: HTTP/2 over TLS (ALPN) next to HTTP/1.1, h2c with prior
// knowledge, WebSocket through an HTTP/1.1 Upgrade (outliving the route
// timeout), gRPC unary and bidirectional streaming with trailers through a
// GRPCRoute (method and header matches, weights, header modifiers), an h2c
// upstream chosen by appProtocol, and 421 for a request on a TLS connection
// whose SNI chose another listener.
func TestProtocols(t *testing.T) {
	web := startHTTPBackend(t, "web")
	h2cPort := startH2CEcho(t)
	wsPort := startWebSocketEcho(t)
	g1, g2 := startGRPCEcho(t, "g1"), startGRPCEcho(t, "g2")
	// gRPC has its own listener: an HTTPRoute and a GRPCRoute may not share
	// hostnames on one listener (cross serving), and web serves every host.
	httpPort, httpsPort, grpcPort := freePort(t), freePort(t), freePort(t)
	_, certA, keyA := selfSigned(t, "a.example.com")
	_, certB, keyB := selfSigned(t, "b.example.com")

	config := gatewayClassYAML + "---\n" + secretYAML("cert-a", certA, keyA) + secretYAML("cert-b", certB, keyB) +
		serviceEntryYAML("web", web.port) + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: proto
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - name: https-a
    protocol: HTTPS
    port: %d
    hostname: a.example.com
    tls: {certificateRefs: [{name: cert-a}]}
  - name: https-b
    protocol: HTTPS
    port: %d
    hostname: b.example.com
    tls: {certificateRefs: [{name: cert-b}]}
  - {name: grpc, protocol: HTTP, port: %d, hostname: grpc.example.com}
---
%s%s%s%s---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - {name: proto, sectionName: http}
  - {name: proto, sectionName: https-a}
  - {name: proto, sectionName: https-b}
  rules:
  - matches: [{path: {type: PathPrefix, value: /h2c-backend}}]
    backendRefs: [{name: h2c, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /ws}}]
    timeouts: {request: 1s}
    backendRefs: [{name: ws, port: 80}]
  - backendRefs:
%s---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs: [{name: proto, sectionName: grpc}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: e2e.Echo, method: Say}
      headers: [{name: x-canary, value: "yes"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-route, value: canary}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: x-gateway, value: edgeway}]}
    backendRefs: [{name: g2, port: 80}]
  - matches:
    - method: {type: RegularExpression, service: "e2e\\.Ech.", method: "Say|Chat"}
    backendRefs:
    - {name: g1, port: 80, weight: 1}
    - {name: g2, port: 80, weight: 1}
`, httpPort, httpsPort, httpsPort, grpcPort,
		serviceYAML("h2c", "kubernetes.io/h2c", h2cPort), serviceYAML("ws", "kubernetes.io/ws", wsPort),
		serviceYAML("g1", "", g1), serviceYAML("g2", "", g2), seRef("web", 1))
	g := startGateway(t, map[string]string{"config.yaml": config})
	if bad := failingConditions(t, g.status()); len(bad) > 0 {
		t.Fatalf("failing conditions:\n%v", bad)
	}
	plain := fmt.Sprintf("127.0.0.1:%d", httpPort)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", httpsPort)

	t.Run("h2 over TLS next to HTTP/1.1", func(t *testing.T) {
		for _, tc := range []struct {
			h2    bool
			major int
			alpn  string
		}{{true, 2, "h2"}, {false, 1, "http/1.1"}} {
			tr := &http.Transport{ForceAttemptHTTP2: tc.h2, TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}
			if !tc.h2 {
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			resp := get(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "https://"+tlsAddr+"/x", "a.example.com")
			tr.CloseIdleConnections()
			if resp.ProtoMajor != tc.major || resp.TLS.NegotiatedProtocol != tc.alpn || resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "web" {
				t.Errorf("h2=%v: %s alpn %q status %d backend %q", tc.h2, resp.Proto, resp.TLS.NegotiatedProtocol, resp.StatusCode, resp.Header.Get("X-Backend"))
			}
		}
	})

	t.Run("h2c prior knowledge next to HTTP/1.1", func(t *testing.T) {
		resp := get(t, h2cClient(), "http://"+plain+"/x", "")
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "web" {
			t.Errorf("h2c: %s %d %q", resp.Proto, resp.StatusCode, resp.Header.Get("X-Backend"))
		}
		resp = get(t, newClient(), "http://"+plain+"/x", "")
		if resp.ProtoMajor != 1 || resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "web" {
			t.Errorf("http/1.1: %s %d %q", resp.Proto, resp.StatusCode, resp.Header.Get("X-Backend"))
		}
	})

	t.Run("upstream h2c by appProtocol", func(t *testing.T) {
		r, err := do(t, newClient(), "GET", "http://"+plain+"/h2c-backend", "", nil)
		if err != nil || r.status != 200 || r.body != "HTTP/2.0 /h2c-backend" {
			t.Fatalf("%+v %v", r, err)
		}
	})

	t.Run("websocket outlives the route timeout", func(t *testing.T) {
		cfg, err := websocket.NewConfig("ws://"+plain+"/ws", "http://"+plain+"/")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Dialer = &net.Dialer{Timeout: 5 * time.Second}
		ws, err := websocket.DialConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		for i := range 3 {
			if i == 2 {
				time.Sleep(1500 * time.Millisecond) // past the route's 1s request timeout
			}
			msg := fmt.Sprintf("frame %d", i)
			if err := websocket.Message.Send(ws, msg); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			var got string
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := websocket.Message.Receive(ws, &got); err != nil || got != "echo "+msg {
				t.Fatalf("receive %d: %q %v", i, got, err)
			}
		}
	})

	t.Run("grpc via GRPCRoute", func(t *testing.T) {
		conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithAuthority("grpc.example.com"), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		// Weighted rule (regex method match): both backends answer, each
		// call ends with the backend's trailer.
		seen := map[string]int{}
		for i := range 40 {
			var out []byte
			var trailer metadata.MD
			in := []byte(fmt.Sprintf("hi %d", i))
			if err := conn.Invoke(ctx, "/e2e.Echo/Say", &in, &out, grpc.Trailer(&trailer)); err != nil {
				t.Fatalf("Say: %v", err)
			}
			name := first(trailer.Get("x-backend"))
			if string(out) != name+": hi "+fmt.Sprint(i) {
				t.Fatalf("Say -> %q (trailer %v)", out, trailer)
			}
			seen[name]++
		}
		if seen["g1"] == 0 || seen["g2"] == 0 || seen["g1"]+seen["g2"] != 40 {
			t.Errorf("weights 1:1 reached %v", seen)
		}

		// Method + header match: only g2, with the request header set and
		// the response header added by the route.
		var out []byte
		var header, trailer metadata.MD
		in := []byte("canary")
		cctx := metadata.AppendToOutgoingContext(ctx, "x-canary", "yes")
		for range 5 {
			if err := conn.Invoke(cctx, "/e2e.Echo/Say", &in, &out, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
				t.Fatal(err)
			}
			if first(trailer.Get("x-backend")) != "g2" || first(trailer.Get("x-seen-route")) != "canary" || first(header.Get("x-gateway")) != "edgeway" {
				t.Fatalf("canary: %q header %v trailer %v", out, header, trailer)
			}
		}

		// A method no rule matches is not routed to the gRPC backends.
		if err := conn.Invoke(ctx, "/e2e.Echo/Other", &in, &out); err == nil {
			t.Errorf("/e2e.Echo/Other succeeded: %q", out)
		}

		// Bidirectional streaming: each reply arrives before the next
		// message is sent; the count comes back in the trailer.
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/e2e.Echo/Chat")
		if err != nil {
			t.Fatal(err)
		}
		var backend string
		for i := range 3 {
			msg := []byte(fmt.Sprintf("m%d", i))
			if err := st.SendMsg(&msg); err != nil {
				t.Fatal(err)
			}
			var reply []byte
			if err := st.RecvMsg(&reply); err != nil {
				t.Fatalf("recv %d: %v", i, err)
			}
			if i == 0 {
				backend = string(reply[:2])
			}
			if string(reply) != backend+": m"+fmt.Sprint(i) {
				t.Fatalf("reply %d: %q", i, reply)
			}
		}
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var extra []byte
		if err := st.RecvMsg(&extra); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v %q", err, extra)
		}
		if tr := st.Trailer(); first(tr.Get("x-count")) != "3" || first(tr.Get("x-backend")) != backend {
			t.Errorf("stream trailer %v", tr)
		}
	})

	t.Run("421 on a coalesced connection", func(t *testing.T) {
		tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		var conns []net.Conn
		for _, tc := range []struct {
			host   string
			status int
		}{{"a.example.com", 200}, {"b.example.com", http.StatusMisdirectedRequest}, {"a.example.com", 200}} {
			req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/", nil)
			req.Host = tc.host
			req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn) }}))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.ProtoMajor != 2 {
				t.Errorf("Host %s on the a.example.com connection: %s %d, want %d", tc.host, resp.Proto, resp.StatusCode, tc.status)
			}
		}
		if len(conns) != 3 || conns[0] != conns[1] || conns[1] != conns[2] {
			t.Errorf("the requests did not share one connection")
		}
		// b.example.com on its own connection is served.
		tr2 := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "b.example.com", InsecureSkipVerify: true}}
		defer tr2.CloseIdleConnections()
		if resp := get(t, &http.Client{Transport: tr2, Timeout: 5 * time.Second}, "https://"+tlsAddr+"/", "b.example.com"); resp.StatusCode != 200 {
			t.Errorf("b.example.com with its own SNI: %d", resp.StatusCode)
		}
	})
}

// --- helpers -------------------------------------------------------------------

// serviceYAML is a Service (port 80, optional appProtocol) with one ready
// endpoint on 127.0.0.1:port.
func serviceYAML(name, appProtocol string, port int) string {
	ap := ""
	if appProtocol != "" {
		ap = ", appProtocol: " + appProtocol
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  ports:
  - {name: p, port: 80, targetPort: %[2]d%[3]s}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports:
- {name: p, port: %[2]d}
endpoints:
- addresses: [127.0.0.1]
---
`, name, port, ap)
}

func get(t *testing.T, c *http.Client, url, host string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: p}}
}

func listenLoopback(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, l.Addr().(*net.TCPAddr).Port
}

// startH2CEcho serves HTTP/2 with prior knowledge only and answers with
// the protocol and path it saw.
func startH2CEcho(t *testing.T) int {
	l, port := listenLoopback(t)
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return port
}

// startWebSocketEcho answers every WebSocket message with "echo <message>".
func startWebSocketEcho(t *testing.T) int {
	l, port := listenLoopback(t)
	srv := &http.Server{Handler: websocket.Handler(func(ws *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, "echo "+msg); err != nil {
				return
			}
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return port
}

// rawCodec passes gRPC messages as raw bytes (*[]byte), so the test needs
// no generated code.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // what the content-type says; the bytes are opaque

// startGRPCEcho serves e2e.Echo: Say (unary) and Chat (bidirectional
// stream) answer "<name>: <message>"; trailers carry the backend name, the
// x-route request header it saw and, for Chat, the message count.
func startGRPCEcho(t *testing.T, name string) int {
	l, port := listenLoopback(t)
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "e2e.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Say", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			md, _ := metadata.FromIncomingContext(ctx)
			grpc.SetTrailer(ctx, metadata.Pairs("x-backend", name, "x-seen-route", first(md.Get("x-route"))))
			out := []byte(name + ": " + string(in))
			return &out, nil
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			n := 0
			for {
				var in []byte
				if err := st.RecvMsg(&in); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					return err
				}
				n++
				out := []byte(name + ": " + string(in))
				if err := st.SendMsg(&out); err != nil {
					return err
				}
			}
			st.SetTrailer(metadata.Pairs("x-backend", name, "x-count", fmt.Sprint(n)))
			return nil
		}}},
	}, struct{}{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return port
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
