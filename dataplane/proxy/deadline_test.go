package proxy

import (
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// A coarse deadline is armed late by at most the slack, kept while it is
// no earlier than asked, and set again when it would fire early, when it
// is too late, when none is asked, and after forget.
func TestCoarseDeadline(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const slack = 100 * time.Millisecond
	var d coarseDeadline
	step := func(want time.Time, wantAt time.Time, wantSet bool) {
		t.Helper()
		at, set := d.update(want, slack)
		if set != wantSet || !at.Equal(wantAt) {
			t.Fatalf("update(%v) = %v, %v; want %v, %v", want.Sub(t0), at.Sub(t0), set, wantAt.Sub(t0), wantSet)
		}
		if !want.IsZero() && (at.Before(want) || at.Sub(want) > slack) {
			t.Fatalf("armed %v for %v: outside [want, want+slack]", at.Sub(t0), want.Sub(t0))
		}
	}
	var zero time.Time
	step(zero, zero, true) // unknown: cleared once
	step(zero, zero, false)
	step(t0, t0.Add(slack), true)
	step(t0.Add(40*time.Millisecond), t0.Add(slack), false) // still no earlier
	step(t0.Add(slack), t0.Add(slack), false)
	step(t0.Add(slack+time.Nanosecond), t0.Add(2*slack+time.Nanosecond), true) // would fire early
	step(t0, t0.Add(slack), true)                                              // far later than asked
	d.forget()
	step(t0.Add(10*time.Millisecond), t0.Add(10*time.Millisecond+slack), true)
	step(zero, zero, true)
	if s := deadlineSlack(10 * time.Minute); s != time.Second {
		t.Errorf("deadlineSlack(10m) = %v, want 1s", s)
	}
	if s := deadlineSlack(160 * time.Millisecond); s != 10*time.Millisecond {
		t.Errorf("deadlineSlack(160ms) = %v, want 10ms", s)
	}
}

// The route timeout on a pooled upstream connection whose deadline a
// request armed just before: a hanging request is cut after its own
// timeout, never sooner, and not much later.
func TestRouteTimeoutOnReusedUpstream(t *testing.T) {
	const timeout = 400 * time.Millisecond
	b := startRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/hang" {
			time.Sleep(3 * timeout)
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	rt := toCluster(prefixMatch("/"), "b")
	rt.GetRoute().Timeout = durationpb.New(timeout)
	_, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, rt)), map[string][]string{"b": {b.addr}})
	c := client()
	for range 3 {
		if resp, body := get(t, c, "GET", base+"/fast", nil); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("fast request: %d %q", resp.StatusCode, body)
		}
		time.Sleep(timeout / 4)
	}
	start := time.Now()
	resp, _ := get(t, c, "GET", base+"/hang", nil)
	took := time.Since(start)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("hanging request: %d, want 504", resp.StatusCode)
	}
	if took < timeout || took > timeout+deadlineSlack(timeout)+time.Second {
		t.Errorf("hanging request cut after %v, want %v to %v", took, timeout, timeout+deadlineSlack(timeout))
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("the backend saw %d connections, want 1 (the hanging request on the pooled one)", n)
	}
}

// The downstream loop's idle timeout after requests back to back, each of
// which may keep the deadline an earlier one armed: the connection is
// closed after the idle timeout from its last response, never sooner.
func TestH1IdleTimeoutAfterBackToBackRequests(t *testing.T) {
	b := loopBackend(t, nil)
	p := newProxy(t)
	res := newResources()
	addCluster(res, "b", b.addr)
	res.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	h := hcm(t, "main")
	const idle = 400 * time.Millisecond
	h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(idle)}
	res.Listeners["l"] = listener(t, "l", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	applyAll(t, p, res)
	rc := dialRaw(t, "http://"+p.ListenerAddr("l").String())
	var last time.Time
	for range 5 {
		// Taken before the request goes out: the server arms the idle
		// timeout after its response, so no later than the close; a time
		// taken after the read would be late by however long this
		// goroutine waited for the CPU.
		last = time.Now()
		rc.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request: %d %q", resp.StatusCode, body)
		}
		time.Sleep(idle / 4)
	}
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second)) // liveness only
	if n, err := rc.br.ReadByte(); err == nil {
		t.Fatalf("read %q from an idle connection, want its close", n)
	}
	if took := time.Since(last); took < idle || took > idle+deadlineSlack(idle)+time.Second {
		t.Errorf("idle connection closed %v after its last response, want %v to %v", took, idle, idle+deadlineSlack(idle))
	}
}
