package acme

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// testManager runs a Manager on store until the test ends (or stop).
type testManager struct {
	*Manager
	reg    *prometheus.Registry
	events *eventLog
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startManager(t *testing.T, o Options) *testManager {
	t.Helper()
	tm := &testManager{reg: prometheus.NewRegistry(), events: &eventLog{}, done: make(chan error, 1)}
	o.Registerer = tm.reg
	o.Events = tm.events.add
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tm.Manager = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	tm.cancel = cancel
	go func() { tm.done <- tm.Run(ctx) }()
	t.Cleanup(func() { tm.stop(t) })
	return tm
}

// stop ends Run and waits for it.
func (tm *testManager) stop(t *testing.T) {
	tm.once.Do(func() {
		tm.cancel()
		select {
		case err := <-tm.done:
			if err != nil {
				t.Errorf("Run returned %v, want nil at the end of its context", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of the end of its context")
		}
	})
}

// testWriter sends log lines to t.Log while the test runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a line after the test ended
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// eventLog records the manager's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) find(reason string) *Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.events {
		if l.events[i].Reason == reason {
			e := l.events[i]
			return &e
		}
	}
	return nil
}

// waitState polls the state Secret of cert until ok says yes.
func waitState(t *testing.T, store Store, cert types.NamespacedName, timeout time.Duration, what string, ok func(*snapshot.ACMEState) bool) *snapshot.ACMEState {
	t.Helper()
	ref := types.NamespacedName{Namespace: cert.Namespace, Name: snapshot.ACMEStateSecretName(cert.Name)}
	deadline := time.Now().Add(timeout)
	var last *snapshot.ACMEState
	for {
		s, err := store.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("reading the state Secret: %v", err)
		}
		if s != nil {
			st, err := snapshot.DecodeACMEState(s)
			if err != nil {
				t.Fatalf("decoding the state Secret: %v", err)
			}
			last = st
			if ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			raw, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("state of %s: not %s within %v; last state:\n%s", cert, what, timeout, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
