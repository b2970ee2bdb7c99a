package proxy

import (
	"encoding/binary"
	"net"
	"testing"
)

// readsConn is a connection whose reads return the given chunks, one per
// Read, as a client writing faster than the server reads fills each read.
type readsConn struct {
	net.Conn
	chunks [][]byte
}

func (c *readsConn) Read(p []byte) (int, error) {
	n := copy(p, c.chunks[0])
	c.chunks = c.chunks[1:]
	return n, nil
}

// A client that makes the server reset every stream it opens (MadeYouReset,
// CVE-2025-8671) and writes faster than the server reads: each read holds
// more streams than the guard's ring remembers, and the frame reader
// resets them only after the read. Every such reset is premature (the
// streams are milliseconds old), so the connection must close; counting
// only the streams still in the ring (256 of each read's 650) it never
// did, as half of all streams must be reset once there were 500.
func TestH2GuardCountsResetsOfStreamsBeyondItsRing(t *testing.T) {
	const perRead, reads = 650, 16
	var chunks [][]byte
	id := uint32(1)
	for range reads {
		var b []byte
		for range perRead {
			// HEADERS with a one-byte block (an indexed field), END_HEADERS.
			hdr := []byte{0, 0, 1, frameHeaders, flagEndHeaders, 0, 0, 0, 0, 0x82}
			binary.BigEndian.PutUint32(hdr[5:9], id)
			b = append(b, hdr...)
			id += 2
		}
		chunks = append(chunks, b)
	}
	g := newH2Guard(&readsConn{chunks: chunks}, 0, 1<<16, nil)
	buf := make([]byte, 64<<10)
	next := uint32(1)
	for r := range reads {
		if _, err := g.Read(buf); err != nil {
			t.Fatalf("read %d: %v", r, err)
		}
		for range perRead {
			g.serverReset(next) // the frame reader reaches each stream's frames
			next += 2
		}
		if g.err != nil {
			t.Logf("closed after %d streams, %d counted as reset early: %v", g.streams, g.resets, g.err)
			return
		}
	}
	t.Fatalf("%d streams reset by the server within milliseconds of their HEADERS, %d counted as premature: the connection stays open", g.streams, g.resets)
}
