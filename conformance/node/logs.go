package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Container logs are files in the CRI logging format the kubelet reads:
// one entry per line, "<RFC3339Nano time> <stdout|stderr> <F|P> <content>",
// where F closes a line and P is a partial line (longer than maxLogLine, or
// the end of output without a newline). That keeps each line's time, which
// `kubectl logs --since-time` (and the conformance suite's mirror tests)
// filter on, and keeps stdout and stderr apart.

const maxLogLine = 16 * 1024

// logFile is one container instance's log, written by the copies of its
// stdout and stderr.
type logFile struct {
	mu sync.Mutex
	f  *os.File
	wg sync.WaitGroup
	// done is closed when both streams reached EOF and the file is closed.
	done chan struct{}
	// closing makes closeWhenDone idempotent: spawn arms it as soon as the
	// streams are attached, and its caller arms it again on a start error.
	closing sync.Once
}

func createLog(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f, done: make(chan struct{})}, nil
}

// copyFrom copies stream r into the log until EOF.
func (l *logFile) copyFrom(stream string, r io.ReadCloser) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer r.Close()
		br := bufio.NewReaderSize(r, maxLogLine)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				tag := "P"
				if line[len(line)-1] == '\n' {
					tag, line = "F", line[:len(line)-1]
				}
				l.write(stream, tag, line)
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return
			}
		}
	}()
}

func (l *logFile) write(stream, tag string, content []byte) {
	var b bytes.Buffer
	b.Grow(len(content) + 48)
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(b.Bytes())
}

// closeWhenDone closes the file once every stream reached EOF.
func (l *logFile) closeWhenDone() {
	l.closing.Do(func() {
		go func() {
			l.wg.Wait()
			l.f.Close()
			close(l.done)
		}()
	})
}

// logEntry is one parsed line of a log file.
type logEntry struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

func parseLogLine(line []byte) (logEntry, bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return logEntry{}, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return logEntry{}, false
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return logEntry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return logEntry{}, false
	}
	return logEntry{time: t, stream: string(stream), partial: string(tag) == "P", content: content}, true
}

// logOptions are the kubelet log API's query parameters.
type logOptions struct {
	follow     bool
	timestamps bool
	since      time.Time // zero: all
	tailLines  int64     // <0: all
	limitBytes int64     // <=0: no limit
}

// limitWriter stops after n bytes.
type limitWriter struct {
	w io.Writer
	n int64
}

var errLimit = errors.New("log limit reached")

func (lw *limitWriter) Write(p []byte) (int, error) {
	if lw.n <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > lw.n {
		p = p[:lw.n]
	}
	n, err := lw.w.Write(p)
	lw.n -= int64(n)
	if err == nil && lw.n <= 0 {
		err = errLimit
	}
	return n, err
}

// serveLog writes the log at path to w as the kubelet does. With follow it
// keeps writing new entries until done is closed (the container instance
// ended and its log is complete) or ctx ends.
func serveLog(ctx context.Context, w io.Writer, path string, opts logOptions, done <-chan struct{}, flush func()) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if opts.limitBytes > 0 {
		w = &limitWriter{w: w, n: opts.limitBytes}
	}
	start := int64(0)
	if opts.tailLines >= 0 {
		start, err = tailOffset(f, opts.tailLines)
		if err != nil {
			return err
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	var pending []byte // a line read before its newline was written
	atLineStart := true
	for {
		chunk, err := br.ReadBytes('\n')
		pending = append(pending, chunk...)
		if err == nil {
			if e, ok := parseLogLine(pending); ok && (opts.since.IsZero() || !e.time.Before(opts.since)) {
				var out []byte
				if opts.timestamps && atLineStart {
					out = append(out, e.time.Format(time.RFC3339Nano)...)
					out = append(out, ' ')
				}
				out = append(out, e.content...)
				if !e.partial {
					out = append(out, '\n')
				}
				atLineStart = !e.partial
				if _, err := w.Write(out); err != nil {
					if errors.Is(err, errLimit) {
						return nil
					}
					return err
				}
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		if !opts.follow {
			return nil
		}
		if flush != nil {
			flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			// The writer is finished: read what it wrote last, then stop.
			opts.follow = false
			continue
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tailOffset returns the offset of the n-th line from the end of f.
func tailOffset(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n == 0 {
		return size, nil
	}
	const block = 32 * 1024
	var lines int64
	pos := size
	buf := make([]byte, block)
	for pos > 0 {
		readFrom := max(pos-block, 0)
		chunk := buf[:pos-readFrom]
		if _, err := f.ReadAt(chunk, readFrom); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' || readFrom+int64(i) == size-1 {
				continue
			}
			lines++
			if lines == n {
				return readFrom + int64(i) + 1, nil
			}
		}
		pos = readFrom
	}
	return 0, nil
}

// logPath is the log of one container instance: <dir>/<container>/<restart>.log.
func logPath(dir, container string, restart int32) string {
	return dir + "/" + container + "/" + strconv.Itoa(int(restart)) + ".log"
}
