package proxy

import (
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
)

func TestClassifyHead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want headVerdict
	}{
		{"", headMore},
		{"G", headMore},
		{"GET /", headMore},
		{"GET / HTTP/1.1\r\n", headOK},
		{"A / HTTP/1.0\n", headOK},
		{"GET /a-long-path", headOK}, // 14+ bytes: net/http reads the rest
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n", headMore},
		{h2Preface, headOK},
		{h2Preface + "\x00\x00\x00\x04", headOK},
		{"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", headBad},
		{"HELLO\r\n", headBad},
		{"GET\r\n", headBad},
		{" GET / HTTP/1.1", headBad},
		{"GET  /", headBad},
		{"GET /\x01", headBad},
		{"GET / FTP", headBad},
		{"GET / HTTP/x", headBad},
		{"\x16\x03\x01\x02\x00", headBad}, // a TLS ClientHello on a plain port
		{"\r\n", headBad},
	} {
		if got := classifyHead([]byte(tc.in)); got != tc.want {
			t.Errorf("classifyHead(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestPlainGarbageAnswered: on a plain HTTP socket (HTTP/1.1 + h2c), bytes
// that can be neither an HTTP/1 request nor the HTTP/2 preface get 400 at
// once, even when shorter than the preface (net/http alone would wait for
// the header timeout, set to a minute here, and close without an answer).
func TestPlainGarbageAnswered(t *testing.T) {
	a := startBackend(t, "a")
	p := newProxy(t)
	res := newResources()
	addCluster(res, "a", backendAddr(a))
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	h := hcm(t, "main")
	h.RequestHeadersTimeout = durationpb.New(60e9)
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	addr := p.ListenerAddr("l").String()

	for _, garbage := range []string{"HELLO\r\n", "GET\r\n", "\x16\x03\x01\x02\x00", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "\r\n\r\n"} {
		if got := rawRequest(t, addr, garbage); got != "HTTP/1.1 400 Bad Request" {
			t.Errorf("%q: got %q, want an immediate 400", garbage, got)
		}
	}
	if got := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Errorf("valid request after the sniff: %q", got)
	}
	if r := do(t, h2cClient(), "GET", "http://"+addr+"/", "", nil); r.status != 200 || r.echo.Backend != "a" {
		t.Errorf("h2c after the sniff: %d %+v", r.status, r.echo)
	}
}
