package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// slowAcceptListener hands each connection to the server a while after
// the kernel took it, as a proxy that leaves connections in its accept
// queue does.
type slowAcceptListener struct {
	net.Listener
	wait time.Duration
}

func (l slowAcceptListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	time.Sleep(l.wait)
	return c, err
}

// serveTLS serves status on a new loopback TLS listener with the harness's
// certificate, its accepts delayed by acceptWait; it returns the probe's
// plan for it.
func serveTLS(t *testing.T, status int, acceptWait time.Duration) connProbe {
	t.Helper()
	dir := t.TempDir()
	cf, err := writeCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cf.CertPEM, cf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, "hello")
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}},
		ErrorLog:  log.New(io.Discard, "", 0), // the refused handshakes are the point
	}
	go func() { _ = srv.ServeTLS(slowAcceptListener{ln, acceptWait}, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return connProbe{URL: fmt.Sprintf("https://%s:%d/", serverName, port), CAFile: cf.Cert,
		Every: 10 * time.Millisecond, For: 300 * time.Millisecond}
}

func TestConnProbeMeasuresFromTheConnect(t *testing.T) {
	const acceptWait = 40 * time.Millisecond
	p := serveTLS(t, http.StatusOK, acceptWait)
	p.Every, p.For = 60*time.Millisecond, 600*time.Millisecond // one at a time: each waits one accept
	res, err := p.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Count < 8 {
		t.Fatalf("want about 10 connections, none failed: %+v", res)
	}
	// The wait to be accepted is inside the handshake's time and the
	// total, where a clock started at the request's write would miss it.
	if res.HandshakeP50 < ms(acceptWait)*0.9 || res.P50ms < res.HandshakeP50 || res.P99ms < res.P50ms {
		t.Fatalf("the accept's %s is not in the times: %+v", acceptWait, res)
	}
}

func TestConnProbeCountsFailures(t *testing.T) {
	p := serveTLS(t, http.StatusServiceUnavailable, 0)
	res, err := p.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 || res.Errors < 20 || !strings.Contains(res.FirstError, "status 503") {
		t.Fatalf("want every connection failed on its 503: %+v", res)
	}
}

func TestConnProbeRefusesAnotherCertificate(t *testing.T) {
	p := serveTLS(t, http.StatusOK, 0)
	other, err := writeCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p.CAFile = other.Cert
	res, err := p.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 || res.Errors == 0 || !strings.Contains(res.FirstError, "certificate") {
		t.Fatalf("want every handshake refused for its certificate: %+v", res)
	}
}

func TestConnProbeProcess(t *testing.T) {
	// The harness's side: the probe in a process of its own, its JSON read
	// back. The test binary stands in for peerbench (TestMain below).
	p := serveTLS(t, http.StatusOK, 0)
	p.Delay = 0
	run, err := startConnProbeArgv(append([]string{testBinary(t)}, connProbeArgs(p)...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Count < 20 || res.Errors != 0 || res.P99ms <= 0 {
		t.Fatalf("want 30 connections measured: %+v", res)
	}
}

// TestMain lets the test binary be peerbench's probe process, and a
// stand-in wrk (loadcore_test.go).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "fake-wrk" {
		fakeWrk(os.Args[2])
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "connprobe" {
		if err := runConnProbe(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}
