package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/controller/snapshot"
)

const gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: %s
spec:
  gatewayClassName: edgeway
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
`

func TestWatchReloadsAndKeepsLastGoodOnError(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		// Write to a temp file and rename, as editors do, so no half-written file is read.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("gw.yaml", strings.ReplaceAll(gateway, "%s", "one"))

	var mu sync.Mutex
	var got []string
	src := &Source{Dir: dir, Debounce: 20 * time.Millisecond, OnSnapshot: func(s *snapshot.Snapshot) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, s.Gateways[0].Name)
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan error, 1)
	go func() { _ = src.Run(ctx, func(err error) { ready <- err }) }()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; state %+v", what, src.State())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return ""
		}
		return got[len(got)-1]
	}
	waitFor("first load", func() bool { return last() == "one" })

	write("gw.yaml", strings.ReplaceAll(gateway, "%s", "two"))
	waitFor("reload", func() bool { return last() == "two" })

	write("broken.yaml", "kind: [\n")
	waitFor("error recorded", func() bool { return strings.Contains(src.State().LastError, "broken.yaml") })
	if last() != "two" {
		t.Fatalf("a broken file must not replace the last good config, got %q", last())
	}
	gen := src.State().Generation

	if err := os.Remove(filepath.Join(dir, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor("recovery", func() bool { st := src.State(); return st.LastError == "" && st.Generation > gen })

	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the watcher add the new directory
	if err := os.WriteFile(filepath.Join(dir, "sub", "gw.yaml"), []byte(strings.ReplaceAll(gateway, "%s", "two")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("duplicate in subdirectory refused", func() bool { return strings.Contains(src.State().LastError, "more than once") })
}
