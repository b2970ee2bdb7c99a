package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// crossServingFiles: one HTTP listener; HTTPRoute web (older) serves
// shared.test and web.test, GRPCRoute rpc (younger) asks for shared.test
// and rpc.test on the same listener, GRPCRoute solo only for solo.test.
func crossServingFiles(port, webPort, h2cPort int) map[string]string {
	return map[string]string{
		"gw.yaml": gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: cross
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
`, port) + serviceEntryYAML("web", webPort) + serviceYAML("rpc", "kubernetes.io/h2c", h2cPort),
		"web.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  parentRefs: [{name: cross}]
  hostnames: [shared.test, web.test]
  rules:
  - backendRefs:
` + seRef("web", 1),
		"rpc.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: rpc
  creationTimestamp: "2024-02-01T00:00:00Z"
spec:
  parentRefs: [{name: cross}]
  hostnames: [shared.test, rpc.test]
  rules:
  - backendRefs: [{name: rpc, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: solo
  creationTimestamp: "2024-03-01T00:00:00Z"
spec:
  parentRefs: [{name: cross}]
  hostnames: [solo.test]
  rules:
  - backendRefs: [{name: rpc, port: 80}]
`,
	}
}

// grpcStyleCall is a POST /e2e.Echo/Say over h2c with the given authority;
// it returns the status and who answered ("web" or the h2c echo's body).
func grpcStyleCall(t *testing.T, addr, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/e2e.Echo/Say", strings.NewReader("x"))
	req.Host = host
	req.Header.Set("Content-Type", "application/grpc")
	c := h2cClient()
	c.Timeout = 5 * time.Second
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if b := resp.Header.Get("X-Backend"); b != "" {
		return resp.StatusCode, b
	}
	return resp.StatusCode, string(body)
}

// TestCrossServing: an HTTPRoute and a GRPCRoute sharing a hostname on one
// listener: only the older (HTTPRoute web) is accepted; the GRPCRoute gets
// Accepted=False HostnameConflict naming web and serves none of its
// hostnames there, the HTTPRoute keeps serving; a GRPCRoute on its own
// hostname is unaffected; once web is gone, rpc is accepted and served.
func TestCrossServing(t *testing.T) {
	web := startHTTPBackend(t, "web")
	h2cPort := startH2CEcho(t)
	port := freePort(t)
	g := startGateway(t, crossServingFiles(port, web.port, h2cPort), "--access-log", "off")
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	bad := failingConditions(t, g.status())
	if len(bad) != 1 || !strings.Contains(bad[0], "Accepted=False HostnameConflict") || !strings.Contains(bad[0], "HTTPRoute default/web") {
		t.Fatalf("want exactly the GRPCRoute rejected with HostnameConflict naming web, got:\n%s", strings.Join(bad, "\n"))
	}
	for host, want := range map[string]string{"shared.test": "web", "web.test": "web", "solo.test": "HTTP/2.0 /e2e.Echo/Say"} {
		if st, who := grpcStyleCall(t, addr, host); st != 200 || who != want {
			t.Errorf("%s: %d from %q, want 200 from %q", host, st, who, want)
		}
	}
	// The rejected route serves none of its hostnames on that listener.
	if st, who := grpcStyleCall(t, addr, "rpc.test"); st != 404 {
		t.Errorf("rpc.test of the rejected GRPCRoute: %d from %q, want 404", st, who)
	}

	before := g.generation()
	g.remove("web.yaml")
	g.waitApplied(before, "the HTTPRoute removal")
	if bad := failingConditions(t, g.status()); len(bad) > 0 {
		t.Errorf("after the HTTPRoute is gone: %v", bad)
	}
	eventually(t, 10*time.Second, "rpc serving shared.test", func() error {
		for _, host := range []string{"shared.test", "rpc.test"} {
			if st, who := grpcStyleCall(t, addr, host); st != 200 || who != "HTTP/2.0 /e2e.Echo/Say" {
				return fmt.Errorf("%s: %d from %q", host, st, who)
			}
		}
		return nil
	})
}
