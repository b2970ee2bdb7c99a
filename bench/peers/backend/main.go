// Command peer-backend is the upstream of the peer benchmark (bench/peers): a
// fixed small response as cheaply as possible, so that the load generator's
// core, which it shares, spends its time on the load and not on the backend.
//
//	peer-backend -http a=127.0.0.1:28001 -http b=127.0.0.1:28002 \
//	  -https tls=127.0.0.1:28003 -h2 h2=127.0.0.1:28004 \
//	  -cert cert.pem -key key.pem -stats 127.0.0.1:28005
//
// -http and -https listeners speak HTTP/1.1 with a minimal hand-written codec
// (keep-alive, pipelining, Content-Length request bodies, Connection: close);
// -h2 listeners are net/http over TLS with HTTP/2 only, the direct-to-backend
// baseline of the HTTP/2 scenario. -stats serves the request count of every
// listener as JSON, which the harness reads to check the weighted split.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var httpF, httpsF, h2F listFlag
	flag.Var(&httpF, "http", "NAME=ADDR: plain HTTP/1.1 listener (repeatable)")
	flag.Var(&httpsF, "https", "NAME=ADDR: HTTP/1.1 over TLS listener, ALPN http/1.1 (repeatable; needs -cert/-key)")
	flag.Var(&h2F, "h2", "NAME=ADDR: HTTP/2 over TLS listener, net/http (repeatable; needs -cert/-key)")
	certFile := flag.String("cert", "", "PEM certificate for -https and -h2")
	keyFile := flag.String("key", "", "PEM private key for -https and -h2")
	statsAddr := flag.String("stats", "", "ADDR: serve GET /stats, the request count per listener name, as JSON")
	bodySize := flag.Int("body-size", 64, "bytes in every response body")
	flag.Parse()
	if len(httpF)+len(httpsF)+len(h2F) == 0 {
		log.Fatal("no listener: give at least one -http, -https or -h2 NAME=ADDR")
	}
	body := []byte(strings.Repeat("x", *bodySize-1) + "\n")
	responses := newResponses(body)
	defer responses.stop()
	counts := map[string]*atomic.Uint64{}
	counter := func(name string) *atomic.Uint64 {
		if counts[name] == nil {
			counts[name] = new(atomic.Uint64)
		}
		return counts[name]
	}

	var tlsConf *tls.Config
	if len(httpsF)+len(h2F) > 0 {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("-https/-h2 need a certificate: -cert %q -key %q: %v", *certFile, *keyFile, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	for _, spec := range httpF {
		name, addr := split(spec)
		go serveHTTP1(listen(addr), responses, counter(name))
	}
	for _, spec := range httpsF {
		name, addr := split(spec)
		conf := tlsConf.Clone()
		conf.NextProtos = []string{"http/1.1"}
		go serveHTTP1(tls.NewListener(listen(addr), conf), responses, counter(name))
	}
	for _, spec := range h2F {
		name, addr := split(spec)
		go serveH2(listen(addr), tlsConf.Clone(), body, counter(name))
	}
	if *statsAddr != "" {
		lis := listen(*statsAddr)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
			out := map[string]uint64{}
			for name, c := range counts {
				out[name] = c.Load()
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		})
		go func() { log.Fatal(http.Serve(lis, mux)) }()
	}
	fmt.Fprintf(os.Stderr, "peer-backend ready: http=%v https=%v h2=%v stats=%s body=%d bytes\n", httpF, httpsF, h2F, *statsAddr, *bodySize)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func split(spec string) (string, string) {
	name, addr, ok := strings.Cut(spec, "=")
	if !ok || name == "" || addr == "" {
		log.Fatalf("%q: want NAME=ADDR, e.g. a=127.0.0.1:28001", spec)
	}
	return name, addr
}

func listen(addr string) net.Listener {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("listen %s: %v (is an earlier benchmark still running? see bench/peers/README.md)", addr, err)
	}
	return lis
}

// serveH2 is the HTTP/2 baseline: net/http, HTTP/2 over TLS only.
func serveH2(lis net.Listener, conf *tls.Config, body []byte, count *atomic.Uint64) {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	srv := &http.Server{
		TLSConfig: conf,
		Protocols: &protocols,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			count.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		}),
	}
	log.Fatal(srv.ServeTLS(lis, "", ""))
}
