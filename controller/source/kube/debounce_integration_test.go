package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
)

// TestLoneEventTranslatedAtOnce: with every quiet period an hour long, the
// first translation (after the cache synced) and the translation of a lone
// route write still happen: neither waits for a quiet period. Before the
// leading edge, every change waited for Debounce first.
func TestLoneEventTranslatedAtOnce(t *testing.T) {
	const ns = "lone"
	api, src := startGatewaySource(t, ns, hourOfQuiet(ns), nil)

	time.Sleep(2 * burstGap) // so that the write below is a lone event, not the tail of the sync's
	create(t, api.Client, debounceRoute(ns, "a"))
	waitFor(t, src, "route a, without waiting for the hour of quiet", func(r *Result) error {
		if findRoute(r.Snapshot, ns, "a") == nil {
			return fmt.Errorf("route a not translated")
		}
		return nil
	})
}

// TestAFollowUpWriteGoesAtOnce: with every quiet period an hour long,
// writes that each come right after the one before was translated (a few
// ms later, well within burstGap) are each translated without waiting:
// two or three close writes are not a burst. Before, the second waited
// BurstDebounce, which was bench-scale's slowest tenth at every size.
func TestAFollowUpWriteGoesAtOnce(t *testing.T) {
	const ns = "followup"
	api, src := startGatewaySource(t, ns, hourOfQuiet(ns), nil)

	// Told on the Source's goroutine as each translation is published, so
	// that the next write follows at once (waitFor polls every 50 ms).
	published := make(chan *Result, 16)
	src.Subscribe(func(r *Result) {
		select {
		case published <- r:
		default:
		}
	})
	time.Sleep(2 * burstGap)
	last := time.Now()
	names := []string{"a", "b", "c"}
	for i, name := range names {
		create(t, api.Client, debounceRoute(ns, name))
		wrote := time.Now()
		timeout := time.After(30 * time.Second)
		for served := false; !served; {
			select {
			case r := <-published:
				served = findRoute(r.Snapshot, ns, name) != nil
			case <-timeout:
				t.Fatalf("route %s, written %v after the route before it was translated, not translated within 30s: it waited for the hour of quiet", name, wrote.Sub(last).Round(time.Millisecond))
			}
		}
		if i > 0 {
			t.Logf("route %s written %v after route %s was translated", name, wrote.Sub(last).Round(100*time.Microsecond), names[i-1])
		}
		last = time.Now()
	}
}

// TestEventsDuringATranslationGoTogether: writes made while a translation
// runs (held in the overlay until they all reached the Source) are
// translated together by the one translation after it, so a burst that
// starts with a lone event still costs two translations, not one per write.
func TestEventsDuringATranslationGoTogether(t *testing.T) {
	const ns = "together"
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	api, src := startGatewaySource(t, ns, Options{ControllerName: "edgeway.dev/test-" + ns}, func(s *snapshot.Snapshot) *snapshot.Snapshot {
		if hold.CompareAndSwap(true, false) {
			entered <- struct{}{}
			<-release
		}
		return s
	})

	hold.Store(true)
	time.Sleep(2 * burstGap)
	create(t, api.Client, debounceRoute(ns, "first"))
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the write of route first started no translation within 30s")
	}
	held := src.Translations() + 1 // the translation now held in the overlay
	if !src.Busy() {
		t.Error("Busy is false while a translation runs: the status writer would not hold back")
	}
	events := src.Events()
	create(t, api.Client, debounceRoute(ns, "a"), debounceRoute(ns, "b"), debounceRoute(ns, "c"))
	deadline := time.Now().Add(30 * time.Second)
	for src.Events() < events+3 {
		if time.Now().After(deadline) {
			t.Fatalf("the Source saw %d of the 3 route events within 30s", src.Events()-events)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)

	r := waitFor(t, src, "routes a, b and c", func(r *Result) error {
		for _, name := range []string{"first", "a", "b", "c"} {
			if findRoute(r.Snapshot, ns, name) == nil {
				return fmt.Errorf("route %s not translated", name)
			}
		}
		return nil
	})
	if r.Sequence != held+1 {
		t.Errorf("routes a, b and c first translated together by translation %d; want %d, the one right after the held translation %d", r.Sequence, held+1, held)
	}
	// Nothing more comes: the Source turns idle, and the status writer
	// may go on.
	deadline = time.Now().Add(30 * time.Second)
	for src.Busy() {
		if time.Now().After(deadline) {
			t.Fatal("the Source still Busy 30s after its last translation, with no change pending")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startGatewaySource starts a kube-apiserver with a Gateway of
// opts.ControllerName in namespace ns, and a Source with opts and overlay
// (startSourceWith), and waits for its first translation. Skipped in
// -short.
func startGatewaySource(t *testing.T, ns string, opts Options, overlay func(*snapshot.Snapshot) *snapshot.Snapshot) (*apiserver.Server, *Source) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	createGatewayOf(t, api, ns, opts.ControllerName)
	src := startSourceWith(t, api, opts, overlay)
	waitFor(t, src, "the first translation", func(r *Result) error { return hasGateway(r, ns) })
	return api, src
}

// hourOfQuiet: the Options of controller edgeway.dev/test-<ns> with every
// quiet period an hour long, so that a translation that waited for one
// never comes within a test.
func hourOfQuiet(ns string) Options {
	return Options{ControllerName: "edgeway.dev/test-" + ns, Debounce: time.Hour, BurstDebounce: time.Hour, MaxDelay: time.Hour}
}

func createGatewayOf(t *testing.T, api *apiserver.Server, ns, controller string) {
	t.Helper()
	create(t, api.Client,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(controller)}},
		&gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(ns), Listeners: []gwv1.Listener{
				{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
			}},
		},
	)
}

func hasGateway(r *Result, ns string) error {
	for _, g := range r.Snapshot.Gateways {
		if g.Namespace == ns {
			return nil
		}
	}
	return fmt.Errorf("no Gateway of namespace %s translated", ns)
}

func debounceRoute(ns, name string) *gwv1.HTTPRoute {
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "web"}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(name + ".example.com")},
		},
	}
}

// startSourceWith starts a Source with opts (its Publisher and Log set
// here) and overlay (nil: none) on a manager of its own, stopped when the
// test ends.
func startSourceWith(t *testing.T, api *apiserver.Server, opts Options, overlay func(*snapshot.Snapshot) *snapshot.Snapshot) *Source {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := NewManager(api.Config, ManagerOptions{ControllerName: opts.ControllerName, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts.Publisher, opts.Log = xds.NewServer(log), log
	src, err := New(ctx, mgr, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if overlay != nil {
		src.SetOverlay(overlay)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s")
		}
	})
	return src
}
