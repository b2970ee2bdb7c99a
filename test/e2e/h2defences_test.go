package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/h2attack"
)

// TestH2Defences runs HTTP/2 attacks against the real binary, on an h2c
// listener and an HTTPS listener (ALPN h2): rapid reset, a CONTINUATION
// flood of empty frames, a PING flood, a SETTINGS flood, and a few bytes
// of garbage on the plain socket. Each attacking connection must be closed
// by the gateway, rapid resets must not reach the backend in numbers, and
// a normal HTTP/2 client on its own connection gets 200 throughout and
// after.
func TestH2Defences(t *testing.T) {
	var seen atomic.Int64
	be := startCountingBackend(t, &seen)
	httpPort, httpsPort := freePort(t), freePort(t)
	_, cert, key := selfSigned(t, "a.example.com")
	config := gatewayClassYAML + "---\n" + secretYAML("cert-a", cert, key) + serviceEntryYAML("web", be) + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: h2
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - name: https
    protocol: HTTPS
    port: %d
    hostname: a.example.com
    tls: {certificateRefs: [{name: cert-a}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - {name: h2, sectionName: http}
  - {name: h2, sectionName: https}
  rules:
  - backendRefs:
%s`, httpPort, httpsPort, seRef("web", 1))
	g := startGateway(t, map[string]string{"config.yaml": config})
	plain := fmt.Sprintf("127.0.0.1:%d", httpPort)
	secure := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	tlsConf := &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}

	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	clients := []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"h2c", &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: h2c}}, "http://" + plain + "/"},
		{"tls", &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), ForceAttemptHTTP2: true}}, "https://" + secure + "/"},
	}
	for _, c := range clients {
		eventually(t, 10*time.Second, c.name+" served", func() error { return getH2(c.c, c.url) })
	}

	// Normal clients on their own connections, all along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var okN atomic.Int64
	var mu sync.Mutex
	var failures []string
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := getH2(c.c, c.url); err != nil {
					mu.Lock()
					failures = append(failures, c.name+": "+err.Error())
					mu.Unlock()
				} else {
					okN.Add(1)
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}

	modes := []struct {
		name string
		addr string
		tls  *tls.Config
	}{{"h2c", plain, nil}, {"tls", secure, tlsConf}}
	attacks := []struct {
		name string
		run  func(*h2attack.Conn)
	}{
		{"rapid reset", func(c *h2attack.Conn) { c.RapidReset("/", 20000, 10*time.Second) }},
		{"CONTINUATION flood", func(c *h2attack.Conn) { c.ContinuationFlood("/", false, 64<<20, 10*time.Second) }},
		{"PING flood", func(c *h2attack.Conn) { c.PingFlood(20000, 10*time.Second) }},
		{"SETTINGS flood", func(c *h2attack.Conn) { c.SettingsFlood(20000, 10*time.Second) }},
	}
	for _, m := range modes {
		for _, a := range attacks {
			c, err := h2attack.Dial(m.addr, "a.example.com", m.tls)
			if err != nil {
				t.Fatalf("%s %s: %v", m.name, a.name, err)
			}
			before, okBefore := seen.Load(), okN.Load()
			a.run(c)
			if !c.WaitEnded(10 * time.Second) {
				t.Errorf("%s %s: connection still open after %d bytes", m.name, a.name, c.Written())
			}
			c.Close()
			t.Logf("%s %s: closed after %d bytes written; backend requests meanwhile %d (normal clients' %d)",
				m.name, a.name, c.Written(), seen.Load()-before, okN.Load()-okBefore)
			// Rapid reset: at most ~250 reset streams reach the backend
			// before the connection is closed, plus the normal clients'.
			if reached, normal := seen.Load()-before, okN.Load()-okBefore; a.name == "rapid reset" && reached > 300+normal+4 {
				t.Errorf("%s rapid reset: the backend saw %d requests (normal clients: %d)", m.name, reached, normal)
			}
		}
	}
	for _, garbage := range []string{"HELLO\r\n", "\x16\x03\x01\x02\x00"} {
		if got := rawStatusLine(t, plain, garbage); got != "HTTP/1.1 400 Bad Request" {
			t.Errorf("garbage %q on the plain socket: %q, want 400", garbage, got)
		}
	}

	close(stop)
	wg.Wait()
	if len(failures) > 0 || okN.Load() < 4 {
		t.Errorf("normal clients: %d ok, failures: %v", okN.Load(), failures)
	}
	for _, c := range clients {
		if err := getH2(c.c, c.url); err != nil {
			t.Errorf("%s after the attacks: %v", c.name, err)
		}
	}
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `reason="http2_flood"`) {
		t.Errorf("/metrics has no http2_flood rejections")
	}
}

// getH2 expects 200 over HTTP/2 from the backend (Host a.example.com).
func getH2(c *http.Client, url string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Host = "a.example.com"
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		return fmt.Errorf("%s %d", resp.Proto, resp.StatusCode)
	}
	return nil
}

// startCountingBackend answers 200 and counts requests; it returns its port.
func startCountingBackend(t *testing.T, seen *atomic.Int64) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// rawStatusLine writes b on a fresh connection and returns the first line
// of the answer ("" if the connection closed without one).
func rawStatusLine(t *testing.T, addr, b string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, b)
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, buf, len("HTTP/1.1 400 Bad Request"))
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return line
}
