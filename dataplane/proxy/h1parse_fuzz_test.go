package proxy

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

// FuzzH1HeadDifferential: whatever head the loop's parser accepts,
// net/http's server reads the same way: http.ReadRequest accepts it, the
// server's own checks (version, Host, field names and values) pass, and
// method, URL, Host, fields and framing are equal. The seeds run with
// every `go test`.
func FuzzH1HeadDifferential(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n\r\n",
		"GET /%41%2f?x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a!b(c)*'d HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /? HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //x/y HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /#f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: x\r\nx-lower: 1\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX:  spaced\t \r\nY:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: \x80\xff obs-text\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		// Handed over (or incomplete): the differential holds trivially.
		"GET / HTTP/1.0\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX\x00: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX : 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / x HTTP/1.1\r\nHost: x\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr := http.Header{}
		var h h1Head
		var kept string
		if parseH1Head(data, 0, hdr, &h, &kept) != h1Parsed {
			return
		}
		// The same head again on the connection: parsed from the kept
		// string, to the same result.
		again, hAgain := http.Header{}, h1Head{}
		if v := parseH1Head(data, 0, again, &hAgain, &kept); v != h1Parsed || hAgain != h || !maps.EqualFunc(again, hdr, slices.Equal) {
			t.Fatalf("%q: parsed again from the kept head: %v %+v %q, first %+v %q", data, v, hAgain, again, h, hdr)
		}
		if h.size <= maxKeptHead && unsafe.StringData(hAgain.target) != unsafe.StringData(h.target) {
			t.Fatalf("%q: parsed again, its string not shared", data)
		}
		var u url.URL
		got, ok := h.url(&u)
		if !ok {
			return // handed over
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[:h.size])))
		if err != nil {
			t.Fatalf("parseH1Head accepted %q, http.ReadRequest: %v", data[:h.size], err)
		}
		// conn.readRequest's checks after ReadRequest.
		if req.ProtoMajor != 1 || req.ProtoMinor != 1 {
			t.Fatalf("%q: proto %s", data, req.Proto)
		}
		// http.ReadRequest drops the Host field; the server reads it first.
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data[:h.size])))
		tp.ReadLine()
		mime, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		hosts := mime["Host"]
		if len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) {
			t.Fatalf("%q: net/http rejects the Host %q", data, hosts)
		}
		for k, vv := range req.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				t.Fatalf("%q: invalid name %q", data, k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("%q: invalid value %q", data, v)
				}
			}
		}
		if req.Method != h.method || req.RequestURI != h.target || req.Host != h.host {
			t.Fatalf("%q: method/target/host %q %q %q, net/http %q %q %q", data, h.method, h.target, h.host, req.Method, req.RequestURI, req.Host)
		}
		if *req.URL != *got {
			t.Fatalf("%q: URL %#v, net/http %#v", data, *got, *req.URL)
		}
		if req.ContentLength != h.contentLength || req.Close != h.close || req.TransferEncoding != nil {
			t.Fatalf("%q: length %d close %v, net/http %d %v %v", data, h.contentLength, h.close, req.ContentLength, req.Close, req.TransferEncoding)
		}
		if len(req.Header) != len(hdr) {
			t.Fatalf("%q: fields %q, net/http %q", data, hdr, req.Header)
		}
		for k, vv := range req.Header {
			if !slices.Equal(vv, hdr[k]) {
				t.Fatalf("%q: field %s %q, net/http %q", data, k, hdr[k], vv)
			}
		}
	})
}
