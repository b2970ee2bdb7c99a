package node

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestLog writes a log in the CRI format with entries one second apart
// from t0, through the same writer the node uses.
func writeTestLog(t *testing.T, stdout string) (string, *logFile) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	lf, err := createLog(p)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lf.copyFrom("stdout", r)
	lf.closeWhenDone()
	if _, err := io.WriteString(w, stdout); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-lf.done
	return p, lf
}

func readLog(t *testing.T, p string, opts logOptions) string {
	t.Helper()
	var b strings.Builder
	done := make(chan struct{})
	close(done)
	if err := serveLog(context.Background(), &b, p, opts, done, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLogOptions(t *testing.T) {
	p, _ := writeTestLog(t, "one\ntwo\nthree\nno newline")
	if got := readLog(t, p, logOptions{tailLines: -1}); got != "one\ntwo\nthree\nno newline" {
		t.Errorf("whole log = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: 2}); got != "three\nno newline" {
		t.Errorf("tailLines 2 = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: 0}); got != "" {
		t.Errorf("tailLines 0 = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: 10}); got != "one\ntwo\nthree\nno newline" {
		t.Errorf("tailLines 10 = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: -1, limitBytes: 6}); got != "one\ntw" {
		t.Errorf("limitBytes 6 = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: -1, since: time.Now().Add(time.Hour)}); got != "" {
		t.Errorf("since the future = %q", got)
	}
	if got := readLog(t, p, logOptions{tailLines: -1, since: time.Now().Add(-time.Hour)}); !strings.HasPrefix(got, "one\n") {
		t.Errorf("since an hour ago = %q", got)
	}
	got := readLog(t, p, logOptions{tailLines: 1, timestamps: true})
	ts, rest, _ := strings.Cut(got, " ")
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || rest != "no newline" {
		t.Errorf("timestamps = %q", got)
	}
}

// TestLogLongLine: a line longer than the line limit is split into partial
// entries and comes back whole.
func TestLogLongLine(t *testing.T) {
	long := strings.Repeat("x", 3*maxLogLine+5)
	p, _ := writeTestLog(t, long+"\nafter\n")
	if got := readLog(t, p, logOptions{tailLines: -1}); got != long+"\nafter\n" {
		t.Errorf("long line came back as %d bytes, want %d", len(got), len(long)+7)
	}
}

// TestLogFollow: follow returns what is written later and ends when the
// writer is done.
func TestLogFollow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "0.log")
	lf, err := createLog(p)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lf.copyFrom("stdout", r)
	lf.closeWhenDone()
	out := make(chan string)
	go func() {
		var b strings.Builder
		_ = serveLog(context.Background(), &b, p, logOptions{follow: true, tailLines: -1}, lf.done, nil)
		out <- b.String()
	}()
	io.WriteString(w, "first\n")
	time.Sleep(150 * time.Millisecond)
	io.WriteString(w, "second\n")
	w.Close()
	select {
	case got := <-out:
		if got != "first\nsecond\n" {
			t.Errorf("followed log = %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the writer finished")
	}
}
