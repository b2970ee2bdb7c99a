// Command demo-backends runs the small backends the quickstart routes to: HTTP
// echo servers that answer with their own name and what they received, a TLS
// server with its own certificate (to show passthrough), and a TCP echo.
//
//	demo-backends -http blue=127.0.0.1:9101 -http green=127.0.0.1:9102 \
//	  -tls secure=127.0.0.1:9104 -tcp tcp-echo=127.0.0.1:9105
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var httpF, tlsF, tcpF listFlag
	flag.Var(&httpF, "http", "NAME=ADDR: an HTTP echo server (repeatable)")
	flag.Var(&tlsF, "tls", "NAME=ADDR: an HTTPS echo server with a self-signed certificate for NAME (repeatable)")
	flag.Var(&tcpF, "tcp", "NAME=ADDR: a TCP server that answers each line with 'NAME: line' (repeatable)")
	flag.Parse()
	for _, spec := range httpF {
		name, addr := split(spec)
		lis := listen(addr)
		go func() { log.Fatal(http.Serve(lis, echoHandler(name))) }()
	}
	for _, spec := range tlsF {
		name, addr := split(spec)
		lis := tls.NewListener(listen(addr), &tls.Config{Certificates: []tls.Certificate{selfSigned(name)}})
		go func() { log.Fatal(http.Serve(lis, echoHandler(name))) }()
	}
	for _, spec := range tcpF {
		name, addr := split(spec)
		go serveTCP(name, listen(addr))
	}
	log.Printf("demo backends running: http=%v tls=%v tcp=%v", httpF, tlsF, tcpF)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func split(spec string) (string, string) {
	name, addr, ok := strings.Cut(spec, "=")
	if !ok {
		log.Fatalf("%q: want NAME=ADDR", spec)
	}
	return name, addr
}

func listen(addr string) net.Listener {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("listen %s: %v (is another demo-backends still running?)", addr, err)
	}
	return lis
}

// echo is what an HTTP backend answers: enough to see routing, rewrites and
// header modifiers from curl.
type echo struct {
	Backend string            `json:"backend"`
	Method  string            `json:"method"`
	Host    string            `json:"host"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers"`
}

func echoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		e := echo{Backend: name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: map[string]string{}}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.Headers[k] = strings.Join(r.Header[k], ",")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", name)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(e)
	})
}

func serveTCP(name string, lis net.Listener) {
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					fmt.Fprintf(c, "%s: %s", name, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func selfSigned(name string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name + " (demo backend)"},
		DNSNames:     []string{name, name + ".example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
