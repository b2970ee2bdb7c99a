package proxy

import (
	"io"
	"net/http"
	"sync"
)

// maxPostHandlerRead is how much of a request body the loop reads and
// drops after the handler, to keep the connection (net/http's 256 KiB).
const maxPostHandlerRead = 256 << 10

// h1Body is a request body of a known length, read from the connection's
// buffered reader. The upstream transport may still read it from its own
// goroutine when the handler has returned, hence the lock: finish closes
// it under the lock before the loop reads the next request.
type h1Body struct {
	mu        sync.Mutex
	c         *h1Client
	remaining int64
	closed    bool
	sawEOF    bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.sawEOF = true
		// The whole request is in: watch the connection for the client
		// leaving while the response is made, as net/http does.
		b.c.armGoneWatch()
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// finish closes the body for good and reads what the handler left of it,
// up to maxPostHandlerRead; false: the connection cannot be reused.
func (b *h1Body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.sawEOF || b.remaining == 0 {
		return true
	}
	if b.remaining > maxPostHandlerRead {
		return false
	}
	n, err := b.c.br.Discard(int(b.remaining))
	b.remaining -= int64(n)
	return err == nil
}

// unreadTooLarge reports whether more of the body is unread than the loop
// would read after the handler: the response then says Connection: close.
func (b *h1Body) unreadTooLarge() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.sawEOF && b.remaining > maxPostHandlerRead
}
