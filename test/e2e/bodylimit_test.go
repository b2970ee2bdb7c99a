package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// uploads is a backend that reads each request body to the end before
// answering "got <n>", and counts the requests it saw.
type uploads struct {
	seen atomic.Int64
	port int
}

func startUploadBackend(t *testing.T) *uploads {
	t.Helper()
	u := &uploads{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.seen.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "got %d", n)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.port = l.Addr().(*net.TCPAddr).Port
	return u
}

// bodyLimitFiles: Gateway "limited" (port lp, the annotation value given)
// and Gateway "open" (port op, no annotation), one HTTPRoute on both.
func bodyLimitFiles(lp, op, be int, limit string) map[string]string {
	gw := func(name string, port int, ann string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: %s
  annotations: {%s}
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: http
    protocol: HTTP
    port: %d
---
`, name, ann, port)
	}
	return map[string]string{
		"class.yaml":   gatewayClassYAML,
		"limited.yaml": gw("limited", lp, fmt.Sprintf(`gateway.edgeway.dev/max-request-body-bytes: %q`, limit)),
		"open.yaml":    gw("open", op, ""),
		"route.yaml": serviceEntryYAML("up", be) + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: up
spec:
  parentRefs: [{name: limited}, {name: open}]
  rules:
  - backendRefs:
` + seRef("up", 1),
	}
}

// rawRequest sends one HTTP/1.1 request as written and returns the status
// code and body of the answer.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func chunkedBody(n int) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", n, strings.Repeat("b", n))
}

func TestBodyLimit(t *testing.T) {
	be := startUploadBackend(t)
	lp, op := freePort(t), freePort(t)
	g := startGateway(t, bodyLimitFiles(lp, op, be.port, "1Ki"), "--access-log", "off")
	if bad := failingConditions(t, g.status()); len(bad) > 0 {
		t.Fatalf("failing conditions:\n%v", bad)
	}
	limited, open := fmt.Sprintf("127.0.0.1:%d", lp), fmt.Sprintf("127.0.0.1:%d", op)

	seen := be.seen.Load()
	if st, body := rawRequest(t, limited, "POST /cl HTTP/1.1\r\nHost: up.test\r\nContent-Length: 1025\r\n\r\n"+strings.Repeat("b", 1025)); st != 413 {
		t.Errorf("Content-Length over the limit: %d %q, want 413", st, body)
	}
	if got := be.seen.Load(); got != seen {
		t.Errorf("the backend saw a request whose Content-Length is over the limit")
	}
	if st, body := rawRequest(t, limited, "POST /chunked HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedBody(8000)); st != 413 {
		t.Errorf("chunked over the limit: %d %q, want 413", st, body)
	}
	if st, body := rawRequest(t, limited, "POST /ok HTTP/1.1\r\nHost: up.test\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("b", 1024)); st != 200 || body != "got 1024" {
		t.Errorf("at the limit: %d %q, want 200 got 1024", st, body)
	}
	if st, body := rawRequest(t, limited, "POST /ok HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedBody(1000)); st != 200 || body != "got 1000" {
		t.Errorf("chunked under the limit: %d %q, want 200 got 1000", st, body)
	}
	// The Gateway without the annotation is unlimited.
	if st, body := rawRequest(t, open, "POST /big HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedBody(2<<20)); st != 200 || body != fmt.Sprintf("got %d", 2<<20) {
		t.Errorf("no annotation: %d %q, want 200", st, body)
	}

	// An invalid value rejects that Gateway (condition naming the
	// annotation, nothing of it served, as for proxy-protocol); the other
	// Gateway keeps serving.
	before := g.generation()
	g.write("limited.yaml", bodyLimitFiles(lp, op, be.port, "ten megabytes")["limited.yaml"])
	g.waitApplied(before, "the invalid annotation")
	if s := g.status(); !strings.Contains(s, `gateway.edgeway.dev/max-request-body-bytes`) || !strings.Contains(s, "InvalidParameters") {
		t.Errorf("no InvalidParameters condition naming the annotation:\n%s", s)
	}
	eventually(t, 10*time.Second, "the rejected Gateway's listener closed", func() error {
		c, err := net.DialTimeout("tcp", limited, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return errors.New("still accepting")
	})
	if st, body := rawRequest(t, open, "POST /after HTTP/1.1\r\nHost: up.test\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("b", 5000)); st != 200 || body != "got 5000" {
		t.Errorf("the other Gateway after the invalid edit: %d %q", st, body)
	}
}
