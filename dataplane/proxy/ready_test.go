package proxy

import (
	"net/http"
	"testing"

	"github.com/edgeway/edgeway/dataplane/config"
)

// TestServing: nothing applied is not serving; a listener whose route
// configuration has not arrived (incomplete) is not; once it arrives the
// configuration is swapped in and served; a later incomplete candidate
// clears Serving while the previous configuration keeps answering.
func TestServing(t *testing.T) {
	p := newProxy(t)
	if p.Serving() {
		t.Fatal("serving before any configuration")
	}
	be := startBackend(t, "a")
	res := newResources()
	addCluster(res, "a", backendAddr(be))
	res.Listeners["http"] = listener(t, "http", 0, false, chain("http", nil, nil, hcmFilter(t, hcm(t, "rc"))))
	for _, typ := range []string{config.TypeCluster, config.TypeEndpoint, config.TypeListener} {
		if err := p.Apply(typ, res); err != nil {
			t.Fatal(err)
		}
	}
	if p.Serving() {
		t.Fatal("serving although route configuration rc is missing")
	}
	res.Routes["rc"] = routeConfig("rc", vhost("any", []string{"*"}, toCluster(prefixMatch("/"), "a")))
	if err := p.Apply(config.TypeRoute, res); err != nil {
		t.Fatal(err)
	}
	if !p.Serving() {
		t.Fatal("not serving a complete configuration")
	}
	url := "http://" + p.ListenerAddr("http").String() + "/"
	if r := do(t, client(), "GET", url, "x", nil); r.status != http.StatusOK || r.echo.Backend != "a" {
		t.Fatalf("complete config: %d %q", r.status, r.echo.Backend)
	}
	next := clone(res)
	delete(next.Routes, "rc")
	if err := p.Apply(config.TypeRoute, next); err != nil {
		t.Fatal(err)
	}
	if p.Serving() {
		t.Error("Serving although the latest candidate is incomplete")
	}
	if r := do(t, client(), "GET", url, "x", nil); r.status != http.StatusOK || r.echo.Backend != "a" {
		t.Errorf("previous config after an incomplete candidate: %d %q", r.status, r.echo.Backend)
	}
}
