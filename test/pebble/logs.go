package pebble

import (
	"bytes"
	"sync"
)

// logBuffer collects the servers' output. Each server writes through its own
// lineWriter so that lines of the two never interleave mid-line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) writer(name string) *lineWriter {
	return &lineWriter{b: b, prefix: name + ": "}
}

// lineWriter appends complete lines, prefixed, to a logBuffer; a partial
// line waits for its end. exec.Cmd calls Write from one goroutine per
// stream, and stdout and stderr share the writer: hence the lock.
type lineWriter struct {
	mu      sync.Mutex
	b       *logBuffer
	prefix  string
	partial []byte
	// bindFailed: a line said "address already in use". challtestsrv logs
	// a listener's failure and keeps running, so this is how Start learns
	// it lost a port.
	bindFailed bool
}

func (w *lineWriter) lostPort() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bindFailed
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(w.partial[:i], []byte("address already in use")) {
			w.bindFailed = true
		}
		w.b.mu.Lock()
		w.b.buf.WriteString(w.prefix)
		w.b.buf.Write(w.partial[:i+1])
		w.b.mu.Unlock()
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}
