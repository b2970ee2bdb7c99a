package proxy

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2HeaderReaderMatchesFramer: h2HeaderReader gives, block after block
// on one connection (the HPACK dynamic table and the reused state carried
// over), what x/net/http2's Framer gives with ReadMetaHeaders: the same
// fields, the same truncation at the header list size, the same kind of
// error (stream or connection, and its code) for invalid names, values and
// pseudo-headers, and CONTINUATION frames read into the block.
func TestH2HeaderReaderMatchesFramer(t *testing.T) {
	const maxList = 256
	type field = [2]string
	blocks := []struct {
		name   string
		fields []field
		split  int // CONTINUATION frames of this many bytes of the block (0: one HEADERS)
	}{
		{"request", []field{{":method", "GET"}, {":scheme", "https"}, {":path", "/x"}, {":authority", "a.test"}, {"accept", "*/*"}}, 0},
		{"same again (indexed)", []field{{":method", "GET"}, {":scheme", "https"}, {":path", "/x"}, {":authority", "a.test"}, {"accept", "*/*"}}, 0},
		{"continuations", []field{{":method", "POST"}, {":scheme", "https"}, {":path", "/y"}, {":authority", "a.test"}, {"x-long", strings.Repeat("v", 10)}}, 5},
		{"upper-case name", []field{{":method", "GET"}, {":path", "/"}, {"X-Up", "1"}}, 0},
		{"pseudo after regular", []field{{":method", "GET"}, {"a", "1"}, {":path", "/"}}, 0},
		{"invalid value", []field{{":method", "GET"}, {"a", "x\x00y"}}, 0},
		{"unknown pseudo", []field{{":method", "GET"}, {":bogus", "1"}}, 0},
		{"duplicate pseudo", []field{{":method", "GET"}, {":method", "GET"}}, 0},
		{"request and response pseudo", []field{{":method", "GET"}, {":status", "200"}}, 0},
		{"over the list size", []field{{":method", "GET"}, {"a", strings.Repeat("a", 100)}, {"b", strings.Repeat("b", 100)}, {"c", "after"}}, 0},
		{"trailer budget", []field{{":method", "GET"}, {"trailer", strings.Repeat("t,", 40)}}, 0},
		{"after all that", []field{{":method", "GET"}, {":scheme", "http"}, {":path", "/z"}, {":authority", "a.test"}}, 0},
	}

	// The same frames for both readers: one encoder, so both decoders see
	// the dynamic table change the same way.
	var wire bytes.Buffer
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	wfr := http2.NewFramer(&wire, nil)
	for i, b := range blocks {
		hbuf.Reset()
		for _, f := range b.fields {
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
				t.Fatal(err)
			}
		}
		block := hbuf.Bytes()
		id := uint32(2*i + 1)
		if b.split == 0 || len(block) <= b.split {
			wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
			continue
		}
		wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:b.split], EndStream: true})
		for rest := block[b.split:]; len(rest) > 0; {
			n := min(b.split, len(rest))
			wfr.WriteContinuation(id, n == len(rest), rest[:n])
			rest = rest[n:]
		}
	}

	theirs := http2.NewFramer(nil, bytes.NewReader(wire.Bytes()))
	theirs.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	theirs.ReadMetaHeaders.SetMaxStringLength(maxList)
	theirs.MaxHeaderListSize = maxList
	oursFr := http2.NewFramer(nil, bytes.NewReader(wire.Bytes()))
	ours := newH2HeaderReader(4096, maxList)

	for _, b := range blocks {
		tf, terr := theirs.ReadFrame()
		of, oerr := oursFr.ReadFrame()
		if hf, ok := of.(*http2.HeadersFrame); ok && oerr == nil {
			of, oerr = ours.read(oursFr, hf)
		}
		if kind(terr) != kind(oerr) {
			t.Errorf("%s: error %v, x/net's %v", b.name, oerr, terr)
			continue
		}
		if terr != nil {
			var ce http2.ConnectionError
			if errors.As(terr, &ce) {
				t.Fatalf("%s: a connection error ends the comparison (both: %v)", b.name, terr)
			}
			continue
		}
		tm, om := tf.(*http2.MetaHeadersFrame), of.(*http2.MetaHeadersFrame)
		t.Logf("%s: %d fields, truncated %v", b.name, len(om.Fields), om.Truncated)
		if tm.StreamID != om.StreamID || tm.Truncated != om.Truncated || tm.StreamEnded() != om.StreamEnded() {
			t.Errorf("%s: stream %d truncated %v ended %v, x/net's %d %v %v", b.name, om.StreamID, om.Truncated, om.StreamEnded(), tm.StreamID, tm.Truncated, tm.StreamEnded())
		}
		if !reflect.DeepEqual(append([]hpack.HeaderField{}, om.Fields...), append([]hpack.HeaderField{}, tm.Fields...)) {
			t.Errorf("%s: fields %v, x/net's %v", b.name, om.Fields, tm.Fields)
		}
	}
}

// kind is an error's class as the frame loop acts on it: none, a stream
// error with its code, a connection error with its code, or another.
func kind(err error) string {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &se):
		return "stream " + se.Code.String()
	case errors.As(err, &ce):
		return "connection " + http2.ErrCode(ce).String()
	}
	return "other: " + err.Error()
}
