package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// generation is the number of configurations the running gateway accepted.
func (g *gateway) generation() int { return g.report().Config.Generation }

// waitApplied waits until the gateway accepted a configuration newer than
// generation before and the data plane ACKed all of it.
func (g *gateway) waitApplied(before int, what string) {
	g.t.Helper()
	eventually(g.t, 10*time.Second, what, func() error {
		r := g.report()
		if r.Config.Generation <= before {
			return fmt.Errorf("generation still %d (last error %q)", r.Config.Generation, r.Config.LastError)
		}
		if !r.Dataplane.InSync {
			return fmt.Errorf("data plane not in sync: %+v", r.Dataplane)
		}
		return nil
	})
}

// TestLiveEditsUnderLoad keeps HTTP and HTTPS load running through 100
// configuration edits (canary weights, new routes, a rotated certificate) and
// requires zero failed requests and zero connection resets; then checks the
// split after the last edit over 1000 requests.
func TestLiveEditsUnderLoad(t *testing.T) {
	blue := startHTTPBackend(t, "blue")
	green := startHTTPBackend(t, "green")
	httpPort, httpsPort := freePort(t), freePort(t)
	_, certPEM, keyPEM := selfSigned(t, "secure.test")

	gatewayFile := gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: live
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - name: http
    protocol: HTTP
    port: %d
  - name: https
    protocol: HTTPS
    port: %d
    hostname: secure.test
    tls: {mode: Terminate, certificateRefs: [{name: cert}]}
---
`, httpPort, httpsPort) + serviceEntryYAML("blue", blue.port) + serviceEntryYAML("green", green.port)
	canary := func(blueW, greenW int) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: canary
spec:
  parentRefs: [{name: live}]
  hostnames: [canary.test, secure.test]
  rules:
  - backendRefs:
` + seRef("blue", blueW) + seRef("green", greenW)
	}
	extraRoute := func(i int) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: extra-%d
spec:
  parentRefs: [{name: live, sectionName: http}]
  hostnames: [extra-%d.test]
  rules:
  - backendRefs:
`, i, i) + seRef("green", 1)
	}

	g := startGateway(t, map[string]string{
		"gateway.yaml": gatewayFile,
		"cert.yaml":    secretYAML("cert", certPEM, keyPEM),
		"canary.yaml":  canary(90, 10),
	})
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	httpsURL := fmt.Sprintf("https://127.0.0.1:%d/", httpsPort)

	// Load: keep-alive HTTP, new-connection HTTP and keep-alive HTTPS.
	ctx, stopLoad := context.WithCancel(context.Background())
	var ok, failed, resets atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	worker := func(c *http.Client, url, host string) {
		defer wg.Done()
		for ctx.Err() == nil {
			req, _ := http.NewRequest("GET", url, nil)
			req.Host = host
			resp, err := c.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failed.Add(1)
				if errors.Is(err, syscall.ECONNRESET) {
					resets.Add(1)
				}
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %s -> %d", host, url, resp.StatusCode))
				continue
			}
			ok.Add(1)
		}
	}
	keepAlive := &http.Client{Timeout: 5 * time.Second}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true}}}
	wg.Add(4)
	go worker(keepAlive, httpURL, "canary.test")
	go worker(keepAlive, httpURL, "canary.test")
	go worker(fresh, httpURL, "canary.test")
	go worker(tlsClient, httpsURL, "secure.test")

	// 100 edits, each waited for until the gateway accepted it.
	const edits = 100
	for i := 1; i <= edits; i++ {
		before := g.generation()
		switch {
		case i%10 == 0:
			_, c, k := selfSigned(t, "secure.test")
			g.write("cert.yaml", secretYAML("cert", c, k))
		case i%10 == 5:
			g.write(fmt.Sprintf("extra-%d.yaml", i), extraRoute(i))
		default:
			b := 10 + (i*37)%81 // 10..90
			g.write("canary.yaml", canary(b, 100-b))
		}
		g.waitApplied(before, fmt.Sprintf("edit %d applied", i))
	}
	// The last edit: 30/70.
	before := g.generation()
	g.write("canary.yaml", canary(30, 70))
	g.waitApplied(before, "last edit applied")
	stopLoad()
	wg.Wait()

	t.Logf("under load through %d edits: %d ok, %d failed, %d resets", edits+1, ok.Load(), failed.Load(), resets.Load())
	if failed.Load() != 0 || resets.Load() != 0 {
		t.Fatalf("%d failed requests (%d connection resets) during live edits; first: %v", failed.Load(), resets.Load(), firstErr.Load())
	}
	if ok.Load() < 500 {
		t.Fatalf("only %d requests completed: the load did not really run", ok.Load())
	}

	// New routes added during the run are served.
	if res, err := do(t, keepAlive, "GET", httpURL, "extra-95.test", nil); err != nil || res.status != 200 {
		t.Errorf("route added during the run not served: %v %+v", err, res)
	}

	counts := map[string]int{}
	const n = 1000
	for i := 0; i < n; i++ {
		res, err := do(t, keepAlive, "GET", httpURL, "canary.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[res.backend]++
	}
	share := float64(counts["green"]) / n
	t.Logf("split after the last edit (30/70): %v", counts)
	if math.Abs(share-0.70) > 0.05 {
		t.Errorf("green share %.3f after the last edit, want 0.70±0.05 (%v)", share, counts)
	}
}
