package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsFiles is a Gateway with one HTTP listener on port routing /* to the
// ServiceEntry "se" (backend port be); annotations go on the Gateway.
func opsFiles(port, be int, annotations string) map[string]string {
	return map[string]string{
		"gw.yaml": gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ops
  annotations: {%s}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: http
    protocol: HTTP
    port: %d
`, annotations, port),
		"route.yaml": serviceEntryYAML("se", be) + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs: [{name: ops}]
  rules:
  - backendRefs:
` + seRef("se", 1),
	}
}

// accessLogLines returns the JSON objects of an access log file.
func accessLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line is not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func findLog(lines []map[string]any, field, value string) map[string]any {
	for _, l := range lines {
		if fmt.Sprint(l[field]) == value {
			return l
		}
	}
	return nil
}

func TestOpsMetricsAndAccessLog(t *testing.T) {
	be := startHTTPBackend(t, "be")
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, opsFiles(port, be.port, ""), "--access-log", logPath)
	c := newClient()
	url := fmt.Sprintf("http://127.0.0.1:%d/ops/path?token=hidden", port)
	var rid string
	for range 3 {
		r, err := do(t, c, "GET", url, "ops.test", nil)
		if err != nil || r.status != 200 {
			t.Fatalf("request: %v %+v", err, r)
		}
		rid = r.header.Get("X-Seen-Header-X-Request-Id")
	}
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	listener := fmt.Sprintf("127.0.0.1:%d", port)
	for _, want := range []string{
		fmt.Sprintf(`edgeway_proxy_http_requests_total{cluster="serviceentry/default/se/80",listener="%s",route="default/r/rule/0/match/0",status_class="2xx"} 3`, listener),
		fmt.Sprintf(`edgeway_proxy_http_request_duration_seconds_count{cluster="serviceentry/default/se/80",listener="%s",route="default/r/rule/0/match/0"} 3`, listener),
		fmt.Sprintf(`edgeway_proxy_downstream_connections_total{listener="%s"}`, listener),
		`edgeway_xds_updates_accepted_total{type="Listener"}`,
		`edgeway_xds_connected 1`,
		`edgeway_proxy_config_swaps_total`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	var line map[string]any
	eventually(t, 5*time.Second, "the access log line", func() error {
		if line = findLog(accessLogLines(t, logPath), "request_id", rid); line == nil {
			return errors.New("no line with the request id the backend saw")
		}
		return nil
	})
	for k, v := range map[string]any{"listener": listener, "route": "default/r/rule/0/match/0", "cluster": "serviceentry/default/se/80",
		"upstream_host": be.addr, "method": "GET", "path": "/ops/path", "status": 200.0, "authority": "ops.test", "protocol": "HTTP/1.1"} {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if !strings.HasPrefix(fmt.Sprint(line["client_address"]), "127.0.0.1:") || line["duration_ms"] == nil || line["bytes_sent"].(float64) == 0 {
		t.Errorf("access log line %v", line)
	}
	if data, _ := os.ReadFile(logPath); strings.Contains(string(data), "hidden") {
		t.Error("the query string reached the access log")
	}
}

// startSlowBackend answers once release is closed and signals each
// request's arrival.
func startSlowBackend(t *testing.T, release chan struct{}) (port int, arrived chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived = make(chan struct{}, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "slow done")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, arrived
}

func TestOpsSIGTERMDrainsInFlightRequest(t *testing.T) {
	// Never closed if the test fails first: the backend's Close at
	// cleanup ends the waiting handler through its request context.
	release := make(chan struct{})
	bePort, arrived := startSlowBackend(t, release)
	port := freePort(t)
	g := startGateway(t, opsFiles(port, bePort, ""), "--drain-timeout", "15s", "--drain-delay", "700ms")
	exited := make(chan error, 1)
	type outcome struct {
		r   *result
		err error
	}
	slow := make(chan outcome, 1)
	go func() {
		r, err := do(t, &http.Client{Timeout: 20 * time.Second}, "GET", fmt.Sprintf("http://127.0.0.1:%d/slow", port), "ops.test", nil)
		slow <- outcome{r, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- g.cmd.Wait() }()

	// Readiness fails first, while the request is still in flight.
	eventually(t, 5*time.Second, "/ready to fail", func() error {
		resp, err := http.Get("http://" + g.admin + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/ready %d", resp.StatusCode)
		}
		return nil
	})
	select {
	case o := <-slow:
		t.Fatalf("the slow request finished before readiness failed: %+v %v", o.r, o.err)
	default:
	}
	// The backend answers only now, however late this test got here, and
	// after the drain delay (700 ms): the request is in flight through
	// readiness failing and the listener closing, and is drained.
	time.Sleep(time.Second)
	close(release)
	o := <-slow
	if o.err != nil || o.r.status != 200 || o.r.body != "slow done" {
		t.Fatalf("in-flight request during drain: %+v, %v", o.r, o.err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("edgeway exited with %v after the drain", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("edgeway did not exit after draining")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after exit")
	}
	if !strings.Contains(g.logs.String(), "draining") {
		t.Errorf("no drain in the logs:\n%s", g.logs.String())
	}
}

// rawStatus sends req on a new connection and returns the status line.
func rawStatus(t *testing.T, addr string, req []byte) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(req)
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestOpsMalformedAndOversizedRequests(t *testing.T) {
	be := startHTTPBackend(t, "be")
	port := freePort(t)
	startGateway(t, opsFiles(port, be.port, ""), "--access-log", "off")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	manyHeaders := "GET / HTTP/1.1\r\nHost: x\r\n"
	for i := range 150 {
		manyHeaders += fmt.Sprintf("X-H-%d: v\r\n", i)
	}
	for req, want := range map[string]string{
		"NOT AN HTTP REQUEST AT ALL, REALLY\r\n\r\n":                                       "HTTP/1.1 400",
		"GET / HTTP/1.1\r\n\r\n":                                                           "HTTP/1.1 400",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n":      "HTTP/1.1 400",
		"GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n":                                    "HTTP/1.1 400",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n": "HTTP/1.1 431",
		manyHeaders + "\r\n": "HTTP/1.1 431",
	} {
		if got := rawStatus(t, addr, []byte(req)); !strings.HasPrefix(got, want) {
			t.Errorf("%.60q: %q, want %s", req, got, want)
		}
	}
	r, err := do(t, newClient(), "GET", "http://"+addr+"/after", "x", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("the gateway stopped serving: %v %+v", err, r)
	}
}

func TestOpsSlowHeaderClientIsCut(t *testing.T) {
	be := startHTTPBackend(t, "be")
	port := freePort(t)
	startGateway(t, opsFiles(port, be.port, ""), "--access-log", "off")
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one header line a second, never the end of the head
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
					return
				}
			}
		}
	}()
	// The default request_headers_timeout is 10s; give it 30s.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a client trickling headers was not cut")
	}
}

func proxyV2(src net.IP, srcPort uint16) []byte {
	h := []byte("\r\n\r\n\x00\r\nQUIT\n")
	h = append(h, 0x21, 0x11, 0, 12)
	h = append(h, src.To4()...)
	h = append(h, 127, 0, 0, 1)
	h = binary.BigEndian.AppendUint16(h, srcPort)
	return binary.BigEndian.AppendUint16(h, 80)
}

func TestOpsProxyProtocol(t *testing.T) {
	be := startHTTPBackend(t, "be")
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	startGateway(t, opsFiles(port, be.port, `gateway.edgeway.dev/proxy-protocol: "true"`), "--access-log", logPath)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for name, tc := range map[string]struct {
		header []byte
		client string
	}{
		"v1": {[]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40001 80\r\n"), "203.0.113.7:40001"},
		"v2": {proxyV2(net.ParseIP("198.51.100.9"), 40002), "198.51.100.9:40002"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(tc.header)
		fmt.Fprintf(c, "GET /pp/%s HTTP/1.1\r\nHost: pp.test\r\n\r\n", name)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		ip, _, _ := net.SplitHostPort(tc.client)
		if got := resp.Header.Get("X-Seen-Header-X-Forwarded-For"); resp.StatusCode != 200 || got != ip {
			t.Errorf("%s: status %d, X-Forwarded-For at the backend %q, want %q", name, resp.StatusCode, got, ip)
		}
		eventually(t, 5*time.Second, name+" access log", func() error {
			l := findLog(accessLogLines(t, logPath), "path", "/pp/"+name)
			if l == nil {
				return errors.New("no line")
			}
			if l["client_address"] != tc.client {
				return fmt.Errorf("client_address %v, want %s", l["client_address"], tc.client)
			}
			return nil
		})
	}
	// A connection without the header did not come through the load
	// balancer: closed unanswered.
	if got := rawStatus(t, addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); got != "" {
		t.Errorf("request without a PROXY header answered %q", got)
	}
}

func TestOpsProxyProtocolInvalidAnnotation(t *testing.T) {
	be := startHTTPBackend(t, "be")
	port := freePort(t)
	files := opsFiles(port, be.port, "")
	g := startGateway(t, files)
	before := g.generation()
	bad := opsFiles(port, be.port, `gateway.edgeway.dev/proxy-protocol: "yes"`)
	g.write("gw.yaml", bad["gw.yaml"])
	eventually(t, 10*time.Second, "the Gateway condition", func() error {
		if g.generation() <= before {
			return errors.New("not reloaded")
		}
		if s := g.status(); !strings.Contains(s, `metadata.annotations[\"gateway.edgeway.dev/proxy-protocol\"]`) && !strings.Contains(s, `metadata.annotations["gateway.edgeway.dev/proxy-protocol"]`) {
			return fmt.Errorf("no condition naming the annotation:\n%s", s)
		}
		return nil
	})
}

func TestOpsDeltaXDS(t *testing.T) {
	a := startHTTPBackend(t, "a")
	b := startHTTPBackend(t, "b")
	port := freePort(t)
	files := opsFiles(port, a.port, "")
	g := startGateway(t, files, "--xds-protocol", "delta", "--access-log", "off")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := newClient()
	if r, err := do(t, c, "GET", url, "d.test", nil); err != nil || r.backend != "a" {
		t.Fatalf("delta mode: %v %+v", err, r)
	}
	before := g.generation()
	g.write("route.yaml", opsFiles(port, b.port, "")["route.yaml"])
	g.waitApplied(before, "the backend edit over delta xDS")
	eventually(t, 5*time.Second, "traffic on the new backend", func() error {
		r, err := do(t, c, "GET", url, "d.test", nil)
		if err != nil {
			return err
		}
		if r.backend != "b" {
			return fmt.Errorf("backend %q", r.backend)
		}
		return nil
	})
	// Removal: the route goes away, the listener answers 404.
	before = g.generation()
	g.remove("route.yaml")
	g.waitApplied(before, "the route removal")
	eventually(t, 5*time.Second, "404 after the removal", func() error {
		r, err := do(t, c, "GET", url, "d.test", nil)
		if err != nil {
			return err
		}
		if r.status != 404 {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
}
