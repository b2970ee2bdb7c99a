package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2AuthorityMustBeAValidHost: the HTTP/1.1 exchange writes the
// request's Host upstream as it is (http.Transport checked it), so an
// HTTP/2 :authority that is not a valid Host must never get that far.
// Go's HTTP/2 server refuses each such byte with a stream reset today;
// this holds any HTTP/2 server the data plane uses (an own one included)
// to refusing it before a backend sees it.
func TestH2AuthorityMustBeAValidHost(t *testing.T) {
	// A backend that records the request heads it gets and answers 200,
	// whatever they hold: what a lenient upstream would do.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var heads []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					mu.Lock()
					heads = append(heads, head.String())
					mu.Unlock()
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	base := h1Proxy(t, ln.Addr().String(), 0)

	status := func(authority string) string {
		t.Helper()
		c := dialProxy(t, base)
		defer c.Close() // one per call, not all at the end
		if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(c, c)
		if err := fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: authority}, {Name: ":path", Value: "/"}} {
			enc.WriteField(f)
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf(":authority %q: no answer: %v", authority, err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.MetaHeadersFrame:
				if f.StreamID == 1 {
					return f.PseudoValue("status")
				}
			case *http2.RSTStreamFrame:
				return "RST_STREAM " + f.ErrCode.String()
			case *http2.GoAwayFrame:
				t.Fatalf(":authority %q: GOAWAY: %v", authority, f.ErrCode)
			}
		}
	}

	refused := 0
	for c := 0; c < 256; c++ {
		bad := "a" + string(rune(c)) + "b.example"
		if c >= 0x80 {
			bad = "a" + string([]byte{byte(c)}) + "b.example" // a byte, not a rune's UTF-8
		}
		if httpguts.ValidHostHeader(bad) || c == '\r' || c == '\n' || c == 0 {
			continue // CR, LF and NUL are refused by HPACK's field rules already
		}
		refused++
		if got := status(bad); got != "400" && got != "RST_STREAM PROTOCOL_ERROR" {
			t.Errorf(":authority %q: answer %s, want 400 or a PROTOCOL_ERROR stream reset", bad, got)
		}
	}
	if refused < 100 {
		t.Fatalf("only %d invalid authorities tried", refused)
	}
	mu.Lock()
	if len(heads) != 0 {
		t.Errorf("invalid authorities reached the backend: %q", heads)
	}
	mu.Unlock()
	if got := status("good.example:80"); got != "200" {
		t.Errorf("valid :authority: status %s, want 200", got)
	}
}
