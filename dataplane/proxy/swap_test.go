package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeway/edgeway/dataplane/config"
)

func weightedRoutes(w1 uint32) *routev3.RouteConfiguration {
	return routeConfig("main", vhost("all", []string{"*"}, toWeighted(prefixMatch("/"), map[string]uint32{"v1": w1, "v2": 100 - w1})))
}

// TestSwapUnderLoad changes route weights 100 times while two clients send
// requests without pause: no request may fail and no connection may be
// reset, and the listener socket must stay the same.
func TestSwapUnderLoad(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	p, res, base := httpSetup(t, weightedRoutes(100), map[string][]string{"v1": {backendAddr(v1)}, "v2": {backendAddr(v2)}})
	sock := p.sockets[socketKey(p.state.Load().cfg.Listeners["http"])]

	var stop atomic.Bool
	var requests, failures atomic.Int64
	var seen sync.Map
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client()
			for !stop.Load() {
				resp, err := cl.Get(base + "/")
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil {
						err = rerr
					} else if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
					} else {
						seen.Store(parseEcho(string(body)).Backend, true)
					}
				}
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for i := range 100 {
		next := clone(res)
		next.Routes["main"] = weightedRoutes(uint32(i % 101))
		if err := p.Apply(config.TypeRoute, next); err != nil {
			t.Fatal(err)
		}
		if i%10 == 5 {
			// A listener update on the same address swaps its chains
			// without rebinding.
			h := hcm(t, "main")
			h.StatPrefix = fmt.Sprintf("http-%d", i)
			next.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
			if err := p.Apply(config.TypeListener, next); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during swaps; first: %v", f, requests.Load(), firstErr.Load())
	}
	if _, ok := seen.Load("v2"); !ok {
		t.Errorf("weight changes never reached v2 (%d requests)", requests.Load())
	}
	if p.sockets[socketKey(p.state.Load().cfg.Listeners["http"])] != sock {
		t.Error("listener was rebound although its address did not change")
	}
	t.Logf("%d requests across 100 route updates, 0 failures", requests.Load())
}

// TestNACKKeepsPreviousConfig: an unsupported field anywhere (here inside
// the HCM's typed_config, and in a route) is rejected with its path, and
// the previous configuration keeps serving.
func TestNACKKeepsPreviousConfig(t *testing.T) {
	a := startBackend(t, "a")
	p, res, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a"))), map[string][]string{"a": {backendAddr(a)}})

	bad := clone(res)
	h := hcm(t, "main")
	h.GenerateRequestId = nil
	h.ServerName = "edgeway"
	bad.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, h)))
	err := p.Apply(config.TypeListener, bad)
	want := `listener "http": filter_chains[0].filters[0].typed_config: unsupported field "server_name"`
	if err == nil || err.Error() != want {
		t.Fatalf("Apply = %v, want %s", err, want)
	}

	bad = clone(res)
	rt := toCluster(prefixMatch("/"), "a")
	rt.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx"}
	bad.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, rt))
	err = p.Apply(config.TypeRoute, bad)
	want = `route configuration "main": virtual_hosts[0].routes[0].route.retry_policy.retry_on: unsupported retry condition "5xx" (connect-failure, reset and retriable-status-codes are)`
	if err == nil || err.Error() != want {
		t.Fatalf("Apply = %v, want %s", err, want)
	}

	if r := do(t, client(), "GET", base+"/", "x", nil); r.status != 200 || r.echo.Backend != "a" {
		t.Errorf("previous config not serving: %d %q", r.status, r.echo.Backend)
	}
}

// TestIncompleteKeepsPreviousConfig: a route pointing at a cluster that has
// not arrived yet is not a NACK; the old routes serve until it arrives.
func TestIncompleteKeepsPreviousConfig(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	p, res, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a"))), map[string][]string{"a": {backendAddr(a)}})
	cl := client()

	next := clone(res)
	next.Routes["main"] = routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "b")))
	if err := p.Apply(config.TypeRoute, next); err != nil {
		t.Fatalf("incomplete candidate NACKed: %v", err)
	}
	if r := do(t, cl, "GET", base+"/", "x", nil); r.echo.Backend != "a" {
		t.Fatalf("served %q before the cluster arrived", r.echo.Backend)
	}
	if _, err := config.Compile(next); !errors.Is(err, config.ErrIncomplete) {
		t.Fatalf("Compile = %v, want ErrIncomplete", err)
	}
	next.Clusters["b"] = edsCluster("b")
	if err := p.Apply(config.TypeCluster, next); err != nil { // EDS still missing
		t.Fatal(err)
	}
	if r := do(t, cl, "GET", base+"/", "x", nil); r.echo.Backend != "a" {
		t.Fatalf("served %q before the endpoints arrived", r.echo.Backend)
	}
	next.Endpoints["b"] = cla("b", backendAddr(b))
	if err := p.Apply(config.TypeEndpoint, next); err != nil {
		t.Fatal(err)
	}
	if r := do(t, cl, "GET", base+"/", "x", nil); r.echo.Backend != "b" {
		t.Fatalf("served %q after the config completed", r.echo.Backend)
	}
}

// TestBindFailureNACKs: ports in use reject the listener update, naming
// every listener that could not bind (not only the first), and keep
// everything else as it was: a listener of the same update that could
// bind is not left bound. BindFailures reports the sockets until a
// configuration is swapped in.
func TestBindFailureNACKs(t *testing.T) {
	a := startBackend(t, "a")
	p, res, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "a"))), map[string][]string{"a": {backendAddr(a)}})
	var busyPorts []uint32
	for range 2 {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		busyPorts = append(busyPorts, uint32(busy.Addr().(*net.TCPAddr).Port))
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := uint32(free.Addr().(*net.TCPAddr).Port)
	free.Close()

	next := clone(res)
	httpChain := chain("http", nil, nil, hcmFilter(t, hcm(t, "main")))
	next.Listeners["second"] = listener(t, "second", busyPorts[0], false, httpChain)
	next.Listeners["third"] = listener(t, "third", busyPorts[1], false, httpChain)
	next.Listeners["fine"] = listener(t, "fine", freePort, false, httpChain)
	err = p.Apply(config.TypeListener, next)
	if err == nil || !strings.Contains(err.Error(), `listener "second"`) || !strings.Contains(err.Error(), `listener "third"`) {
		t.Fatalf("Apply = %v, want an error naming both listeners", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("Apply's error is not one line (it becomes a NACK's message): %q", err)
	}
	failures := p.BindFailures()
	if len(failures) != 2 {
		t.Fatalf("BindFailures = %+v, want the two busy sockets", failures)
	}
	wantListener := map[string]string{
		fmt.Sprintf("127.0.0.1:%d", busyPorts[0]): "second",
		fmt.Sprintf("127.0.0.1:%d", busyPorts[1]): "third",
	}
	for i, f := range failures {
		if f.Listener != wantListener[f.Address] || f.UDP || !errors.Is(f.Err, syscall.EADDRINUSE) {
			t.Errorf("failure %d: %+v, want one of %v, in use", i, f, wantListener)
		}
		delete(wantListener, f.Address)
	}
	for _, name := range []string{"second", "third", "fine"} {
		if p.ListenerAddr(name) != nil {
			t.Errorf("listener %s is served from a refused update", name)
		}
	}
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePort)); err != nil {
		t.Errorf("the refused update's free port was left bound: %v", err)
	} else {
		l.Close()
	}
	if r := do(t, client(), "GET", base+"/", "x", nil); r.status != 200 {
		t.Errorf("previous listener broken: %d", r.status)
	}

	delete(next.Listeners, "second")
	delete(next.Listeners, "third")
	if err := p.Apply(config.TypeListener, next); err != nil {
		t.Fatalf("Apply without the busy listeners: %v", err)
	}
	if f := p.BindFailures(); f != nil {
		t.Errorf("BindFailures after a swap: %+v", f)
	}
	if p.ListenerAddr("fine") == nil {
		t.Error("listener fine is not served")
	}
}

// TestRemovedListenerDrains: a request in flight on a removed listener
// completes; afterwards the port is closed.
func TestRemovedListenerDrains(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := startSlowBackend(t, release, arrived)
	p, res, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, toCluster(prefixMatch("/"), "slow"))), map[string][]string{"slow": {slow}})
	addr := p.ListenerAddr("http").String()

	done := make(chan result, 1)
	go func() { done <- do(t, client(), "GET", base+"/", "x", nil) }()
	awaitSignal(t, arrived, "the request reaching the backend") // it is in flight now

	next := clone(res)
	delete(next.Listeners, "http")
	if err := p.Apply(config.TypeListener, next); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed listener still accepts")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("in-flight request on removed listener: %d", r.status)
	}
}

// startSlowBackend answers once release is closed; arrived (nil: none,
// else buffered) is signalled as each request arrives.
func startSlowBackend(t testing.TB, release, arrived chan struct{}) string {
	t.Helper()
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		<-release
		io.WriteString(w, `{"Backend":"slow"}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// TestRouteTimeout: the route timeout answers 504; timeout 0 disables it.
func TestRouteTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := startSlowBackend(t, release, nil)
	defer close(release)
	r := toCluster(prefixMatch("/"), "slow")
	r.GetRoute().Timeout = durationpb.New(150 * time.Millisecond)
	_, _, base := httpSetup(t, routeConfig("main", vhost("all", []string{"*"}, r)), map[string][]string{"slow": {slow}})
	start := time.Now()
	if res := do(t, client(), "GET", base+"/", "x", nil); res.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.status)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}
