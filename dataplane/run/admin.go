package run

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/dataplane/proxy"
	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// admin is the data plane's admin server: /healthz (the process runs),
// /ready (see readiness; fails while draining), /metrics.
type admin struct {
	draining atomic.Bool
	ready    readiness
	srv      *http.Server
}

// startAdmin listens on addr and serves in the background until Close.
func startAdmin(addr string, client *xdsclient.Client, dp *proxy.Proxy, ops *Ops) (*admin, error) {
	a := &admin{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
			return
		}
		if ok, why := a.ready.check(client.Stats(), dp.Serving()); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", ops.Metrics.Handler())
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin server: listen on %s: %w (pick another with --admin-address)", addr, err)
	}
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(lis) }()
	return a, nil
}

func (a *admin) setDraining() { a.draining.Store(true) }

func (a *admin) Close() error { return a.srv.Close() }
