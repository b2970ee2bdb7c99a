// Package e2e drives the real edgeway binary in standalone mode through real
// sockets: YAML files in a directory in, HTTP/TLS/TCP traffic to real backends
// out. Every address is on loopback.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/test/testport"

	sigsyaml "sigs.k8s.io/yaml"
)

// edgewayBin is cmd/edgeway; dataplaneBin is cmd/edgeway-dataplane, the
// data plane alone (the same flags as `edgeway dataplane`).
var edgewayBin, dataplaneBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	// -list only names the tests: it needs no binaries, and building them
	// with -race takes minutes.
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "edgeway-e2e")
	if err != nil {
		panic(err)
	}
	edgewayBin = filepath.Join(dir, "edgeway")
	dataplaneBin = filepath.Join(dir, "edgeway-dataplane")
	build := exec.Command("go", "build", "-race", "-o", dir+string(filepath.Separator), "./cmd/edgeway", "./cmd/edgeway-dataplane")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building edgeway and edgeway-dataplane:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gateway is one running `edgeway standalone` process.
type gateway struct {
	t     *testing.T
	dir   string
	admin string
	cmd   *exec.Cmd
	logs  *syncBuffer

	stopOnce sync.Once
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startGateway writes files (name -> YAML) into a fresh directory and starts
// edgeway standalone on it (with extraArgs after the defaults, so they win),
// waiting until it is ready.
func startGateway(t *testing.T, files map[string]string, extraArgs ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir(), admin: freeAddr(t), logs: &syncBuffer{}}
	for name, content := range files {
		g.write(name, content)
	}
	args := []string{"standalone", "--config-dir", g.dir,
		"--xds-address", "127.0.0.1:0", "--admin-address", g.admin, "--drain-timeout", "2s"}
	g.cmd = exec.Command(edgewayBin, append(args, extraArgs...)...)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("edgeway logs:\n%s", g.logs.String())
		}
		if strings.Contains(g.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("data race in edgeway:\n%s", g.logs.String())
		}
	})
	eventually(t, 20*time.Second, "edgeway ready", func() error {
		resp, err := http.Get("http://" + g.admin + "/ready")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	})
	return g
}

// stop ends the process (SIGINT, then SIGKILL after 10 s); safe to call twice.
func (g *gateway) stop() {
	g.stopOnce.Do(func() {
		_ = g.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
			<-done
		}
	})
}

// write replaces a config file atomically (write + rename), as editors do.
func (g *gateway) write(name, content string) {
	g.t.Helper()
	tmp := filepath.Join(g.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(g.dir, name)); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) remove(name string) {
	g.t.Helper()
	if err := os.Remove(filepath.Join(g.dir, name)); err != nil {
		g.t.Fatal(err)
	}
}

// status returns the admin /api/status body.
func (g *gateway) status() string {
	g.t.Helper()
	resp, err := http.Get("http://" + g.admin + "/api/status")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// report is the parsed admin /api/status.
type report struct {
	Config struct {
		Generation int    `json:"generation"`
		LastError  string `json:"lastError"`
	} `json:"config"`
	Dataplane struct {
		Connected bool   `json:"connected"`
		InSync    bool   `json:"inSync"`
		NACKs     int    `json:"nacks"`
		LastError string `json:"lastError"`
	} `json:"dataplane"`
	raw string
}

func (g *gateway) report() report {
	g.t.Helper()
	raw := g.status()
	var r report
	if err := sigsyaml.Unmarshal([]byte(raw), &r); err != nil {
		g.t.Fatalf("status is not YAML: %v\n%s", err, raw)
	}
	r.raw = raw
	return r
}

// expectServed waits until a GET of url with Host host answers status from
// backend ("" for a local reply).
func (g *gateway) expectServed(c *http.Client, url, host string, status int, backend string) {
	g.t.Helper()
	eventually(g.t, 10*time.Second, fmt.Sprintf("%s%s -> %d %s", host, url, status, backend), func() error {
		res, err := do(g.t, c, "GET", url, host, nil)
		if err != nil {
			return err
		}
		if res.status != status || res.backend != backend {
			return fmt.Errorf("got %d from %q", res.status, res.backend)
		}
		return nil
	})
}

// waitStatusContains waits until the admin status mentions want (a reason,
// a message fragment).
func (g *gateway) waitStatusContains(want string) {
	g.t.Helper()
	eventually(g.t, 10*time.Second, "status mentioning "+want, func() error {
		if st := g.status(); !strings.Contains(st, want) {
			return fmt.Errorf("status lacks %q:\n%s", want, st)
		}
		return nil
	})
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
// freeAddr is a loopback address to name before its listener starts, with a
// port the kernel gives to no port-0 bind (testport).
func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := testport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

func freePort(t *testing.T) int {
	_, p, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(p, &n)
	return n
}

// backend is an HTTP server that answers with its name and what it received.
type backend struct {
	name string
	addr string
	port int
}

func startHTTPBackend(t *testing.T, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		w.Header().Set("X-Seen-Host", r.Host)
		for k, v := range r.Header {
			w.Header()["X-Seen-Header-"+k] = v
		}
		fmt.Fprintf(w, "%s %s %s\n", name, r.Method, r.URL.RequestURI())
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &backend{name: name, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port}
}

// client makes requests to a gateway address with an explicit Host and no
// redirects followed, over fresh or kept-alive connections.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 16,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		},
	}
}

type result struct {
	status  int
	header  http.Header
	body    string
	backend string
}

func do(t *testing.T, c *http.Client, method, url, host string, headers map[string]string) (*result, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		return nil, err
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: string(body), backend: resp.Header.Get("X-Backend")}, nil
}

// common YAML pieces ---------------------------------------------------------

const gatewayClassYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: edgeway
spec:
  controllerName: edgeway.dev/gateway-controller
`

// serviceEntryYAML declares a STATIC ServiceEntry named name whose port 80
// reaches a backend on 127.0.0.1:port.
func serviceEntryYAML(name string, port int) string {
	return staticServiceEntryYAML(name, 80, "http", "HTTP", port)
}

// staticServiceEntryYAML is a STATIC ServiceEntry <name>.internal with one
// port, number (named portName, of protocol), which is 127.0.0.1:targetPort;
// followed by "---".
func staticServiceEntryYAML(name string, number int, portName, protocol string, targetPort int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %s
spec:
  hosts: [%s.internal]
  ports: [{number: %d, name: %s, protocol: %s, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
`, name, name, number, portName, protocol, targetPort)
}

// seRef is a backendRef to a ServiceEntry on port 80.
func seRef(name string, weight int) string {
	return fmt.Sprintf(`    - group: networking.istio.io
      kind: ServiceEntry
      name: %s
      port: 80
      weight: %d
`, name, weight)
}

// failingConditions lists the conditions in a status YAML document that report
// a problem: any condition False, except Conflicted (False is the good value).
func failingConditions(t *testing.T, statusYAML string) []string {
	t.Helper()
	var doc any
	if err := sigsyaml.Unmarshal([]byte(statusYAML), &doc); err != nil {
		t.Fatalf("status is not YAML: %v", err)
	}
	var bad []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			if typ, ok := x["type"].(string); ok {
				if st, ok := x["status"].(string); ok && st == "False" && typ != "Conflicted" {
					bad = append(bad, fmt.Sprintf("%s: %s=False %v: %v", path, typ, x["reason"], x["message"]))
				}
			}
			for k, c := range x {
				walk(c, path+"."+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "")
	return bad
}
