package proxy

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"time"
)

// HTTP/2 flood defences that x/net/http2's server did not have (the data
// plane's own server, h2srv*.go, leaves them here), enforced by reading the
// frame headers of everything a client sends (h2Guard sits between the
// connection, after TLS, and the HTTP/2 server's frame reader). A connection that breaks
// one is closed: its last read fails, so the frames of that read are never
// processed. docs/xds-contract.md ("Edge defences") has the table.
const (
	// Rapid reset (CVE-2023-44487), Envoy's premature-reset check
	// (overload.premature_reset_total_stream_count and
	// premature_reset_min_stream_lifetime_seconds): a stream reset by the
	// client within prematureResetLifetime of its HEADERS is premature. The
	// connection is closed once half of prematureResetStreams streams were
	// reset prematurely, or, past that many streams, once at least half of
	// all its streams were. Go's server only bounds the handlers running at
	// once, so without this every reset stream would still reach a backend.
	prematureResetLifetime = time.Second
	prematureResetStreams  = 500
	// streamRing remembers the opening time of the last streams (by id), so
	// a reset can be classified without per-stream state that grows.
	streamRing = 256

	// PING and SETTINGS floods (CVE-2019-9512, CVE-2019-9515): each costs the
	// server an acknowledgement. Go's server only closes a connection whose
	// acknowledgements pile up unread (10 000 queued); a client that reads
	// them could flood forever. Healthy clients send a handful.
	controlFrameWindow = 10 * time.Second
	maxControlFrames   = 1000

	// CONTINUATION floods (CVE-2024-27316, Go CVE-2023-45288): Go's server
	// ends a header block whose decoded size exceeds the header limit, but
	// empty CONTINUATION frames (or HPACK that decodes to nothing) keep a
	// block open forever. A block may have at most this many CONTINUATION
	// frames and at most twice the header size limit in encoded bytes.
	maxContinuationFrames = 128
)

// HTTP/2 frame types and flags (RFC 9113, section 6).
const (
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameContinuation = 0x9
	flagAck           = 0x1
	flagEndHeaders    = 0x4
	frameHeaderLen    = 9
	h2Preface         = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// errH2Flood is what the HTTP/2 server reads once a guard tripped.
type errH2Flood struct{ reason string }

func (e errH2Flood) Error() string { return "http2 flood defence: " + e.reason }

// h2Guard follows the frame boundaries of a client's HTTP/2 byte stream
// (only the 9-byte frame headers are looked at; payloads are skipped by
// length). Read is only called by the server's single frame reader, so it
// needs no locking.
type h2Guard struct {
	net.Conn
	maxBlock int                  // encoded header block limit (bytes)
	onFlood  func(reason string)  // called once, before the read fails
	err      error                // set once a limit is broken
	skip     int                  // bytes still to skip (preface, payload)
	hdr      [frameHeaderLen]byte // the frame header being read
	hdrN     int                  // bytes of hdr read so far
	start    time.Time            // monotonic base of opened
	lastID   uint32               // highest stream id opened
	streams  int                  // streams opened
	resets   int                  // premature resets
	opened   [streamRing]openedStream
	// The last two reads: the highest stream id opened before each, and
	// when each returned (since start), which is when its frames were
	// scanned. The server resets a stream only once
	// its frame reader reaches the frame, and one read holds up to 16 KiB
	// of them: hundreds of streams opened, more than opened remembers.
	// Such a stream was opened in one of the last two reads (a frame read
	// only partly waits in the reader's buffer for the next), so no
	// earlier than the older one returned (recentlyOpened).
	readFromID [2]uint32
	readAt     [2]time.Duration
	ctrl       int       // PING/SETTINGS in the current window
	ctrlFrom   time.Time // start of the current window
	block      int       // encoded bytes of the open header block, -1: none
	conts      int       // CONTINUATION frames of the open header block
}

type openedStream struct {
	id uint32
	at time.Duration // since h2Guard.start
}

// newH2Guard wraps c. prefaceLen is the client preface still to come on c
// (24 on TLS; 0 on h2c, where net/http already consumed it).
func newH2Guard(c net.Conn, prefaceLen, maxHeaderBytes int, onFlood func(string)) *h2Guard {
	return &h2Guard{Conn: c, skip: prefaceLen, maxBlock: 2 * maxHeaderBytes, onFlood: onFlood, start: time.Now(), block: -1}
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(p)
	g.readFromID[0], g.readAt[0] = g.readFromID[1], g.readAt[1]
	g.readFromID[1], g.readAt[1] = g.lastID, time.Since(g.start)
	if reason := g.scan(p[:n]); reason != "" {
		g.err = errH2Flood{reason}
		if g.onFlood != nil {
			g.onFlood(reason)
		}
		return 0, g.err
	}
	return n, err
}

// scan advances over b and returns the broken limit, if any.
func (g *h2Guard) scan(b []byte) string {
	for len(b) > 0 {
		if g.skip > 0 {
			k := min(g.skip, len(b))
			g.skip -= k
			b = b[k:]
			continue
		}
		k := copy(g.hdr[g.hdrN:], b)
		g.hdrN += k
		b = b[k:]
		if g.hdrN < frameHeaderLen {
			return ""
		}
		g.hdrN = 0
		length := int(g.hdr[0])<<16 | int(g.hdr[1])<<8 | int(g.hdr[2])
		g.skip = length
		if reason := g.frame(g.hdr[3], g.hdr[4], binary.BigEndian.Uint32(g.hdr[5:])&(1<<31-1), length); reason != "" {
			return reason
		}
	}
	return ""
}

// frame applies the limits to one frame header.
func (g *h2Guard) frame(typ, flags byte, id uint32, length int) string {
	switch typ {
	case frameHeaders:
		if id > g.lastID {
			g.lastID = id
			g.streams++
			g.opened[(id>>1)%streamRing] = openedStream{id: id, at: g.readAt[1]} // the read's time: one clock read per read
		}
		if flags&flagEndHeaders == 0 {
			g.block, g.conts = length, 0
		}
	case frameContinuation:
		if g.block < 0 {
			return "" // a protocol error the server reports itself
		}
		g.block += length
		g.conts++
		if g.conts > maxContinuationFrames || g.block > g.maxBlock {
			return "header block too large (CONTINUATION flood)"
		}
		if flags&flagEndHeaders != 0 {
			g.block = -1
		}
	case frameRSTStream:
		return g.reset(id)
	case framePing, frameSettings:
		if flags&flagAck != 0 {
			return ""
		}
		now := time.Now()
		if now.Sub(g.ctrlFrom) > controlFrameWindow {
			g.ctrlFrom, g.ctrl = now, 0
		}
		g.ctrl++
		if g.ctrl > maxControlFrames {
			return "too many PING/SETTINGS frames"
		}
	}
	return ""
}

// reset counts a stream reset early, by the client (RST_STREAM) or by the
// server on the client's protocol error.
func (g *h2Guard) reset(id uint32) string {
	o := g.opened[(id>>1)%streamRing]
	if o.id == id {
		if time.Since(g.start)-o.at >= prematureResetLifetime {
			return ""
		}
	} else if !g.recentlyOpened(id) {
		return ""
	}
	g.resets++
	if g.streams < prematureResetStreams && g.resets >= prematureResetStreams/2 ||
		g.streams >= prematureResetStreams && 2*g.resets >= g.streams {
		return "too many streams reset early (rapid reset)"
	}
	return ""
}

// recentlyOpened reports whether stream id, no longer in opened (newer
// streams took its place), was opened in one of the last two reads, the
// older of which returned less than prematureResetLifetime ago.
func (g *h2Guard) recentlyOpened(id uint32) bool {
	return id > g.readFromID[0] && id <= g.lastID && time.Since(g.start)-g.readAt[0] < prematureResetLifetime
}

// serverReset counts a stream the server reset because of the client's
// protocol error (a zero WINDOW_UPDATE increment, DATA beyond the window
// or the Content-Length, ...) as a premature reset: a client provoking
// resets instead of sending them (MadeYouReset, CVE-2025-8671) frees its
// stream slots just as fast while the backends still get the requests.
// Called by the frame reader, like Read; the next Read fails.
func (g *h2Guard) serverReset(id uint32) {
	if g.err != nil {
		return
	}
	if reason := g.reset(id); reason != "" {
		g.err = errH2Flood{reason}
		if g.onFlood != nil {
			g.onFlood(reason)
		}
	}
}

// h2GuardTLS is an h2Guard over a *tls.Conn: the HTTP/2 server learns the
// TLS state through ConnectionState (an h2c guard must not have it).
type h2GuardTLS struct {
	*h2Guard
	tc *tls.Conn
}

func (g h2GuardTLS) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }
