package proxy

import (
	"errors"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2HeaderReader turns a HEADERS frame and its CONTINUATIONs into the
// MetaHeadersFrame x/net/http2's Framer would return with ReadMetaHeaders
// set, with the same checks and errors, but with state kept per
// connection: the Framer's readMetaFrame allocates, per header block, the
// frame, a closure and the variables it captures, and grows a new field
// slice from nothing (about 9 allocations for a usual request). Here the
// emit function is bound once, the field slice and the MetaHeadersFrame are
// reused: what processFrame gets is valid until the next frame is read
// (nothing keeps it: the request copies the strings out).
type h2HeaderReader struct {
	dec     *hpack.Decoder
	maxList uint32 // SETTINGS_MAX_HEADER_LIST_SIZE as the Framer's MaxHeaderListSize

	// The block being decoded.
	meta                          http2.MetaHeadersFrame
	fields                        []hpack.HeaderField
	headersRemain, trailersRemain uint32
	sawRegular                    bool
	invalid                       error
}

func newH2HeaderReader(table uint32, maxList uint32) *h2HeaderReader {
	r := &h2HeaderReader{maxList: maxList}
	r.dec = hpack.NewDecoder(table, r.emit)
	r.dec.SetMaxStringLength(int(maxList))
	return r
}

// Errors as x/net/http2's (their text only reaches debug logs).
var (
	errH2PseudoAfterRegular = errors.New("pseudo header field after regular")
	errH2InvalidFieldName   = errors.New("invalid header field name")
	errH2InvalidFieldValue  = errors.New("invalid header field value")
	errH2BadPseudo          = errors.New("invalid or duplicate pseudo-header field")
	errH2MixedPseudo        = errors.New("mix of request and response pseudo headers")
)

// emit is x/net/http2's readMetaFrame field callback: value and name
// checks, pseudo-header order, and the header list size budget (trailer
// names counted as the Framer does).
func (r *h2HeaderReader) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		r.invalid = errH2InvalidFieldValue
	}
	if strings.HasPrefix(hf.Name, ":") {
		if r.sawRegular {
			r.invalid = errH2PseudoAfterRegular
		}
	} else {
		r.sawRegular = true
		if !validH2WireFieldName(hf.Name) {
			r.invalid = errH2InvalidFieldName
		}
	}
	if r.invalid != nil {
		r.dec.SetEmitEnabled(false)
		return
	}
	remain := &r.headersRemain
	size := hf.Size()
	if hf.Name == "trailer" {
		remain = &r.trailersRemain
		n := strings.Count(hf.Value, ",") + 1
		size = uint32(len(hf.Value)-n+1) + uint32(n)*hpack.HeaderField{}.Size()
	}
	if size > *remain {
		r.dec.SetEmitEnabled(false)
		r.meta.Truncated = true
		r.headersRemain, r.trailersRemain = 0, 0
		return
	}
	*remain -= size
	r.fields = append(r.fields, hf)
}

// read decodes the header block that hf starts, reading its CONTINUATION
// frames from fr (whose frame order check keeps other frames out), as
// x/net/http2's readMetaFrame: a block far beyond the size limit or going
// on after an invalid field is a connection error, a decoding error a
// COMPRESSION_ERROR, an invalid field or pseudo-header a stream error.
func (r *h2HeaderReader) read(fr *http2.Framer, hf *http2.HeadersFrame) (*http2.MetaHeadersFrame, error) {
	r.meta = http2.MetaHeadersFrame{HeadersFrame: hf}
	r.fields = r.fields[:0]
	r.headersRemain, r.trailersRemain = r.maxList, r.maxList
	r.sawRegular, r.invalid = false, nil
	r.dec.SetEmitEnabled(true)

	type fragment interface {
		HeaderBlockFragment() []byte
		HeadersEnded() bool
	}
	var hc fragment = hf
	for {
		frag := hc.HeaderBlockFragment()
		if int64(len(frag)) > 2*int64(r.headersRemain+r.trailersRemain) {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if r.invalid != nil {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := r.dec.Write(frag); err != nil {
			return nil, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if hc.HeadersEnded() {
			break
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		hc = f.(*http2.ContinuationFrame) // the Framer's frame order check
	}
	if err := r.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if r.invalid != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: r.invalid}
	}
	r.meta.Fields = r.fields
	if err := checkH2Pseudos(r.meta.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &r.meta, nil
}

// checkH2Pseudos is x/net/http2's checkPseudos: known pseudo-headers only,
// none twice, not request and response ones together.
func checkH2Pseudos(pf []hpack.HeaderField) error {
	var isRequest, isResponse bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			isRequest = true
		case ":status":
			isResponse = true
		default:
			return errH2BadPseudo
		}
		for _, prev := range pf[:i] {
			if hf.Name == prev.Name {
				return errH2BadPseudo
			}
		}
	}
	if isRequest && isResponse {
		return errH2MixedPseudo
	}
	return nil
}

// validH2WireFieldName is x/net/http2's validWireHeaderFieldName: a
// non-empty token without upper case (RFC 9113 section 8.2.1).
func validH2WireFieldName(v string) bool {
	if len(v) == 0 {
		return false
	}
	for _, r := range v {
		if !httpguts.IsTokenRune(r) || 'A' <= r && r <= 'Z' {
			return false
		}
	}
	return true
}
