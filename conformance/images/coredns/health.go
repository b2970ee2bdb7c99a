package main

import (
	"context"
	"net"
	"net/http"
)

// serveHTTP starts the health plugin's endpoint (GET /health) and the ready
// plugin's (GET /ready), each answering 200 OK as CoreDNS does once it
// serves: they start after the DNS sockets are bound. Probes of a
// Deployment that uses them therefore work as with the real image.
func serveHTTP(cfg *config, out *lockedWriter) (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		for _, s := range servers {
			_ = s.Shutdown(context.Background())
		}
	}
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	}
	byAddr := map[string]*http.ServeMux{}
	var order []string
	for _, e := range []struct{ addr, path string }{{cfg.health, "/health"}, {cfg.ready, "/ready"}} {
		if e.addr == "" {
			continue
		}
		mux := byAddr[e.addr]
		if mux == nil {
			mux = http.NewServeMux()
			byAddr[e.addr] = mux
			order = append(order, e.addr)
		}
		mux.HandleFunc("GET "+e.path, ok)
	}
	for _, addr := range order {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			stop()
			return nil, err
		}
		s := &http.Server{Handler: byAddr[addr]}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != http.ErrServerClosed {
				out.printf("[ERROR] serving %s: %v\n", addr, err)
			}
		}()
	}
	return stop, nil
}
