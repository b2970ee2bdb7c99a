package proxy

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Out is the write side of one HTTP/2 connection. Every goroutine that
// sends (stream handlers, the frame reader for acknowledgements, window
// updates and resets) encodes its frames itself into one buffer under mu;
// nothing goes through a goroutine or a channel. The flush is left to the
// last writer: a writer that finds others queued for mu leaves its frames
// in the buffer for them, and a writer that finds a flush in progress
// leaves them to the flusher, which writes again until the buffer is
// empty. Responses finished together thus leave in one TLS record and one
// write system call, HEADERS and DATA of a small response always do.
//
// The send-side flow-control windows (RFC 9113 section 6.9) are here too,
// under the same mutex: a stream out of window waits on cond, alone.
type h2Out struct {
	conn  net.Conn
	stall time.Duration // bound on one write to conn (h2MaxStall)
	// The write deadline armed; only the flusher (flushing) touches it.
	writeDeadline coarseDeadline

	queued atomic.Int32 // writers waiting for mu: they will flush

	mu       sync.Mutex
	cond     sync.Cond // window updates, buffer space, errors
	buf      appendBuf // frames not yet written
	spare    []byte    // the other buffer, while one is being written
	flushing bool      // a writer is in conn.Write; it loops until buf is empty
	err      error     // the connection cannot be written to any more
	closeAt  bool      // close conn once buf is written (graceful end)
	fr       *http2.Framer
	hbuf     bytes.Buffer // one HPACK header block being encoded
	enc      *hpack.Encoder

	// Streams whose handler's last frames are buffered (ended) or were
	// written when the reader had completed seq reads (released); see
	// h2Conn.releaseFinished.
	readSeq  *atomic.Uint64
	ended    []*h2Stream
	released []h2Released

	connWin     int32  // what the peer lets us send on the connection
	initWin     int32  // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame    uint32 // the peer's SETTINGS_MAX_FRAME_SIZE
	headerTable uint32 // the peer's SETTINGS_HEADER_TABLE_SIZE, bounded
}

// h2MaxPending bounds the bytes buffered for a connection whose flush is
// in progress: beyond it, DATA writers wait for the socket. Control
// frames never wait (they are small and bounded by the flood limits).
const h2MaxPending = 256 << 10

// h2KeepBuffer is the largest write buffer a connection keeps between
// writes.
const h2KeepBuffer = 64 << 10

// h2MaxEncoderTable bounds the HPACK table we keep for a peer's decoder
// whatever it announces (x/net/http2's default).
const h2MaxEncoderTable = 4096

type h2Released struct {
	st  *h2Stream
	seq uint64
}

var errH2ConnClosed = errors.New("http2: connection closed")

type appendBuf struct{ b []byte }

func (a *appendBuf) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

func (w *h2Out) init(c net.Conn, readSeq *atomic.Uint64) {
	w.conn = c
	w.readSeq = readSeq
	w.cond.L = &w.mu
	w.buf.b = make([]byte, 0, 4096)
	w.fr = http2.NewFramer(&w.buf, nil)
	w.enc = hpack.NewEncoder(&w.hbuf)
	w.enc.SetMaxDynamicTableSizeLimit(h2MaxEncoderTable)
	w.connWin = 65535
	w.initWin = 65535
	w.maxFrame = 16384
}

// lock takes mu, counted as queued while waiting so that the holder
// knows to leave the flush to it: every lock is paired with unlock, which
// flushes. The frame reader takes mu uncounted and never flushes itself
// (flushAsync).
func (w *h2Out) lock() {
	w.queued.Add(1)
	w.mu.Lock()
	w.queued.Add(-1)
}

// unlock ends a write: it releases mu and flushes unless a queued writer
// or the running flusher will.
func (w *h2Out) unlock() {
	if w.queued.Load() > 0 || w.flushing {
		w.mu.Unlock()
		return
	}
	w.flushLocked()
	w.mu.Unlock()
}

// unlockLast ends a response's last write: when other handlers of the
// connection are running, it first yields to them, so that responses
// finishing together (their upstream answers came in one poll) leave in
// one write; the write after the yield takes all their frames and the
// later writers find the buffer empty.
func (w *h2Out) unlockLast(others bool) {
	if !others || w.queued.Load() > 0 || w.flushing {
		w.unlock()
		return
	}
	w.mu.Unlock()
	runtime.Gosched()
	w.mu.Lock()
	w.unlock()
}

// flushLocked writes the buffer until it is empty; mu is held on entry
// and exit but released during each write.
func (w *h2Out) flushLocked() {
	if w.flushing {
		return
	}
	w.flushing = true
	for len(w.buf.b) > 0 && w.err == nil {
		b := w.buf.b
		w.buf.b = w.spare[:0]
		ended := w.ended
		w.ended = nil
		w.mu.Unlock()
		if w.stall > 0 {
			// Coarse (deadline.go): only the flusher sets it.
			if at, set := w.writeDeadline.update(time.Now().Add(w.stall), deadlineSlack(w.stall)); set {
				w.conn.SetWriteDeadline(at)
			}
		}
		_, err := w.conn.Write(b)
		w.mu.Lock()
		w.spare = b[:0]
		if cap(b) > h2KeepBuffer {
			// A burst's buffer is not kept for the connection's life:
			// idle connections hold 4 KiB.
			w.spare = nil
		}
		w.release(ended)
		if err != nil {
			w.failLocked(err)
			w.conn.Close()
		}
		w.cond.Broadcast() // room in the buffer
	}
	w.flushing = false
	// Streams that ended while the last write was under way had their
	// frames in it (or in an earlier one).
	w.release(w.ended)
	w.ended = nil
	if w.closeAt && w.err == nil {
		w.failLocked(errH2ConnClosed)
		w.conn.Close()
	}
}

// release records streams whose last frames are written.
func (w *h2Out) release(sts []*h2Stream) {
	if len(sts) == 0 {
		return
	}
	seq := w.readSeq.Load()
	for _, st := range sts {
		w.released = append(w.released, h2Released{st, seq})
	}
}

// finished notes that a handler's last frames were encoded: the stream
// is released once they are written.
func (w *h2Out) finished(st *h2Stream) {
	w.mu.Lock()
	if len(w.buf.b) == 0 && !w.flushing {
		w.release([]*h2Stream{st})
	} else {
		w.ended = append(w.ended, st)
	}
	w.mu.Unlock()
}

// failLocked makes every later write fail with err.
func (w *h2Out) failLocked(err error) {
	if w.err == nil {
		w.err = err
		w.buf.b = w.buf.b[:0]
		w.cond.Broadcast()
	}
}

// fail is failLocked from outside.
func (w *h2Out) fail(err error) {
	w.mu.Lock()
	w.failLocked(err)
	w.mu.Unlock()
}

// closeWhenFlushed closes the connection once what is buffered is written.
func (w *h2Out) closeWhenFlushed() {
	w.mu.Lock()
	w.closeAt = true
	if !w.flushing {
		w.flushing = true
		go w.flushReserved()
	}
	w.mu.Unlock()
}

// flushAsync writes what is buffered from another goroutine, unless a
// flush is under way or a queued writer will do it. The frame reader
// flushes this way: a client that writes without reading (its request
// body, say) must not be able to stop the reader in a write, as its
// frames would then never be read.
func (w *h2Out) flushAsync() {
	w.mu.Lock()
	if !w.flushing && w.queued.Load() == 0 && (len(w.buf.b) > 0 || w.closeAt) {
		w.flushing = true
		go w.flushReserved()
	}
	w.mu.Unlock()
}

// flushReserved is a flush whose flushing flag was set by its caller
// (writers that came meanwhile left their frames to it).
func (w *h2Out) flushReserved() {
	w.mu.Lock()
	w.flushing = false
	w.flushLocked()
	w.mu.Unlock()
}

// waitLocked waits on cond after making sure what is buffered will be
// written (nobody else may be about to flush it).
func (w *h2Out) waitLocked() {
	if len(w.buf.b) > 0 && !w.flushing {
		w.flushLocked()
		return // the window or the error may have changed meanwhile
	}
	w.cond.Wait()
}

// writeHeaderBlockLocked sends hbuf's encoded block as HEADERS plus
// CONTINUATION frames of at most the peer's frame size.
func (w *h2Out) writeHeaderBlockLocked(id uint32, endStream bool) {
	block := w.hbuf.Bytes()
	max := int(w.maxFrame)
	first := block
	if len(first) > max {
		first = first[:max]
	}
	block = block[len(first):]
	w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(block) == 0})
	for len(block) > 0 {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		w.fr.WriteContinuation(id, len(block) == 0, frag)
	}
	w.hbuf.Reset()
}

// encodeField adds one header field to the block being encoded.
func (w *h2Out) encodeField(name, value string) {
	w.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}
