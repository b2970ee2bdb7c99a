package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/test/pebble"
)

// These tests run the real edgeway binary in standalone mode against a real
// ACME CA (Pebble, with its challenge DNS server answering 127.0.0.1 for
// every name): edgeway answers the challenges on its own listeners, the
// certificate lands in the state directory, and HTTPS serves it.

const acmeCertReady = "gateway.edgeway.dev/CertificateReady"

var netDialer = net.Dialer{Timeout: 5 * time.Second}

// acmeIssuerYAML declares an ACMEIssuer trusting Pebble's directory through
// a ConfigMap, with a 1s initial retry backoff (tests wait for retries).
func acmeIssuerYAML(p *pebble.Server, challenge, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: pebble-ca
data:
  ca.crt: |
%s---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata:
  name: pebble
spec:
  directoryURL: %s
  email: ops@acme.test
  termsOfServiceAgreed: true
  caBundleRef: {kind: ConfigMap, name: pebble-ca, key: ca.crt}
  challenge: %s
  retry: {initialBackoff: 1s, maxBackoff: 2s}
%s---
`, indent(string(p.CACertPEM), "    "), p.DirectoryURL, challenge, extra)
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line != "" {
			b.WriteString(prefix + line)
		}
	}
	return b.String()
}

// acmeGatewayYAML: an HTTPS listener for host whose certificate ACME manages,
// and (httpPort != 0) a plain HTTP listener whose every request a user route
// redirects to HTTPS: the challenge must still win on it.
func acmeGatewayYAML(host string, httpPort, httpsPort int) string {
	httpListener, redirect := "", ""
	if httpPort != 0 {
		httpListener = fmt.Sprintf(`  - name: http
    protocol: HTTP
    port: %d
`, httpPort)
		redirect = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: to-https
spec:
  parentRefs: [{name: web, sectionName: http}]
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, statusCode: 301}
---
`
	}
	return gatewayClassYAML + "---\n" + fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: edgeway
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
%s  - name: https
    protocol: HTTPS
    port: %d
    hostname: %q
    tls:
      mode: Terminate
      certificateRefs: [{name: web-tls}]
      options:
        gateway.edgeway.dev/acme-issuer: pebble
---
%sapiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs: [{name: web, sectionName: https}]
  rules:
  - backendRefs:
`, httpListener, httpsPort, host, redirect) + seRef("app", 1)
}

// condition finds the first condition of type typ in a status document.
func condition(t *testing.T, statusYAML, typ string) (status, reason, message string) {
	t.Helper()
	var doc any
	if err := sigsyaml.Unmarshal([]byte(statusYAML), &doc); err != nil {
		t.Fatalf("status is not YAML: %v", err)
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == typ {
				status, _ = x["status"].(string)
				reason, _ = x["reason"].(string)
				message, _ = x["message"].(string)
				return true
			}
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		case []any:
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	walk(doc)
	return
}

// waitCertificateReady waits for the listener condition CertificateReady=True.
func (g *gateway) waitCertificateReady(timeout time.Duration) {
	g.t.Helper()
	eventually(g.t, timeout, acmeCertReady+"=True", func() error {
		st, reason, msg := condition(g.t, g.status(), acmeCertReady)
		if st != "True" {
			return fmt.Errorf("%s=%q %s: %s", acmeCertReady, st, reason, msg)
		}
		return nil
	})
}

// servedLeaf dials addr with sni and returns the leaf certificate after
// verifying the chain against roots.
func servedLeaf(addr, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&netDialer, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func pool(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificates in PEM")
	}
	return p
}

// metricValue sums the samples of a metric family in /metrics whose labels
// contain every fragment in match.
func (g *gateway) metricValue(name string, match ...string) float64 {
	g.t.Helper()
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, line := range strings.Split(string(body), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ok := true
		for _, frag := range match {
			ok = ok && strings.Contains(m[1], frag)
		}
		if v, err := strconv.ParseFloat(m[2], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}

// TestACMEHTTP01IssueAndRenewUnderLoad: a Gateway YAML with an ACME listener
// is all it takes. The HTTP-01 challenge is answered on the Gateway's port-80
// style listener even though a user route redirects everything there; the
// certificate chains to Pebble's root; Pebble's short-lived certificate is
// renewed by itself while HTTPS load runs, with no failed request; the
// certificate files are in the state directory; a restart on the same state
// directory reuses account and certificate.
func TestACMEHTTP01IssueAndRenewUnderLoad(t *testing.T) {
	httpPort, httpsPort := freePort(t), freePort(t)
	p := pebble.Start(t, pebble.Options{HTTPPort: httpPort, Validity: 60 * time.Second})
	app := startHTTPBackend(t, "app")
	stateDir := t.TempDir()
	files := map[string]string{
		"issuer.yaml":  acmeIssuerYAML(p, "HTTP01", ""),
		"gateway.yaml": acmeGatewayYAML("app.acme.test", httpPort, httpsPort) + "---\n" + serviceEntryYAML("app", app.port),
	}
	g := startGateway(t, files, "--state-dir", stateDir)
	g.waitCertificateReady(60 * time.Second)

	roots := pool(t, p.IssuerRootsPEM(t))
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	var first *x509.Certificate
	eventually(t, 10*time.Second, "HTTPS serving the issued certificate", func() (err error) {
		first, err = servedLeaf(httpsAddr, "app.acme.test", roots)
		return err
	})
	if first.DNSNames[0] != "app.acme.test" {
		t.Fatalf("certificate names %v", first.DNSNames)
	}
	// The user's redirect still answers every other path on the HTTP listener.
	res, err := do(t, newClient(), "GET", fmt.Sprintf("http://127.0.0.1:%d/.well-known/acme-challenge/not-a-token", httpPort), "app.acme.test", nil)
	if err != nil || res.status != http.StatusMovedPermanently {
		t.Fatalf("a path that is not a live token must reach the user's redirect: %+v %v", res, err)
	}
	for _, f := range []string{"certs/default/web-tls/tls.crt", "certs/default/web-tls/tls.key"} {
		if fi, err := os.Stat(filepath.Join(stateDir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("state directory lacks %s: %v", f, err)
		}
	}

	// HTTPS load through the renewal: new connections (each sees the
	// certificate of the moment) and keep-alive ones.
	ctx, stop := context.WithCancel(context.Background())
	var okCount, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	tlsConf := &tls.Config{ServerName: "app.acme.test", RootCAs: roots}
	worker := func(c *http.Client) {
		defer wg.Done()
		for ctx.Err() == nil {
			req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/", nil)
			req.Host = "app.acme.test"
			resp, err := c.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Backend") != "app" {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d from %q", resp.StatusCode, resp.Header.Get("X-Backend")))
				continue
			}
			okCount.Add(1)
		}
	}
	wg.Add(3)
	go worker(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}})
	go worker(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}})
	go worker(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}})

	var renewed *x509.Certificate
	eventually(t, 90*time.Second, "a renewed certificate served", func() error {
		c, err := servedLeaf(httpsAddr, "app.acme.test", roots)
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		renewed = c
		return nil
	})
	time.Sleep(time.Second) // load on the renewed certificate too
	stop()
	wg.Wait()
	t.Logf("renewal under load: %d requests ok, %d failed; first certificate valid until %s, renewed one until %s",
		okCount.Load(), failed.Load(), first.NotAfter.Format(time.RFC3339), renewed.NotAfter.Format(time.RFC3339))
	if failed.Load() != 0 || okCount.Load() == 0 {
		t.Fatalf("%d requests failed during the renewal (first: %v), %d ok", failed.Load(), firstErr.Load(), okCount.Load())
	}
	if v := g.metricValue("edgeway_acme_orders_total", `kind="renew"`); v < 1 {
		t.Errorf("edgeway_acme_orders_total{kind=renew} = %v, want >= 1", v)
	}
	// Pebble's ARI window spans the whole lifetime, so the renewed certificate
	// may itself be renewed before the metric is read: the gauge must show a
	// renewed certificate's expiry, this one's or a later one's.
	if v := g.metricValue("edgeway_acme_certificate_expiry_timestamp_seconds", `secret="web-tls"`); int64(v) < renewed.NotAfter.Unix() {
		t.Errorf("edgeway_acme_certificate_expiry_timestamp_seconds = %v, want the renewed certificate's expiry %d or later", v, renewed.NotAfter.Unix())
	}
}

// TestACMETLSALPN01: no HTTP listener at all; the CA validates on the HTTPS
// listener itself with ALPN acme-tls/1, and ordinary clients on the same
// port and SNI never see the validation certificate.
func TestACMETLSALPN01(t *testing.T) {
	httpsPort := freePort(t)
	p := pebble.Start(t, pebble.Options{TLSPort: httpsPort})
	app := startHTTPBackend(t, "app")
	files := map[string]string{
		"issuer.yaml":  acmeIssuerYAML(p, "TLSALPN01", ""),
		"gateway.yaml": acmeGatewayYAML("alpn.acme.test", 0, httpsPort) + "---\n" + serviceEntryYAML("app", app.port),
	}
	stateDir := t.TempDir()
	first := startGateway(t, files, "--state-dir", stateDir)
	first.waitCertificateReady(60 * time.Second)
	if v := first.metricValue("edgeway_acme_orders_total", `kind="issue"`); v != 1 {
		t.Fatalf("edgeway_acme_orders_total{kind=issue} = %v, want 1", v)
	}
	issued := first.status()
	first.stop()

	// A restart on the same state directory serves the stored certificate
	// at once and orders nothing.
	g := startGateway(t, files, "--state-dir", stateDir)
	g.waitCertificateReady(10 * time.Second)
	if v := g.metricValue("edgeway_acme_orders_total"); v != 0 {
		t.Fatalf("after a restart edgeway_acme_orders_total = %v, want 0 (the certificate and account in the state directory are reused)", v)
	}
	if _, _, before := condition(t, issued, acmeCertReady); before == "" {
		t.Fatal("no CertificateReady message before the restart")
	}
	roots := pool(t, p.IssuerRootsPEM(t))
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "alpn.acme.test", RootCAs: roots}}}
	eventually(t, 10*time.Second, "HTTPS with the issued certificate", func() error {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", httpsPort), nil)
		req.Host = "alpn.acme.test"
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.Header.Get("X-Backend") != "app" {
			return fmt.Errorf("status %d from %q", resp.StatusCode, resp.Header.Get("X-Backend"))
		}
		return nil
	})
}

// TestACMEDNS01Wildcard: a wildcard listener through lego's httpreq DNS
// provider (credentials from a Secret), checked against Pebble's DNS server.
func TestACMEDNS01Wildcard(t *testing.T) {
	httpsPort := freePort(t)
	p := pebble.Start(t, pebble.Options{})
	app := startHTTPBackend(t, "app")
	dns := fmt.Sprintf(`  dns01:
    provider: httpreq
    credentialsSecretRef: {name: dns-credentials}
    nameservers: [%q]
    propagationTimeout: 30s
---
apiVersion: v1
kind: Secret
metadata:
  name: dns-credentials
stringData:
  HTTPREQ_ENDPOINT: %s
`, p.DNSAddress, p.HTTPReqEndpoint())
	g := startGateway(t, map[string]string{
		"issuer.yaml":  acmeIssuerYAML(p, "DNS01", dns),
		"gateway.yaml": acmeGatewayYAML("*.wild.acme.test", 0, httpsPort) + "---\n" + serviceEntryYAML("app", app.port),
	}, "--state-dir", t.TempDir())
	g.waitCertificateReady(60 * time.Second)
	roots := pool(t, p.IssuerRootsPEM(t))
	var leaf *x509.Certificate
	eventually(t, 10*time.Second, "the wildcard certificate", func() (err error) {
		leaf, err = servedLeaf(fmt.Sprintf("127.0.0.1:%d", httpsPort), "x.wild.acme.test", roots)
		return err
	})
	if leaf.DNSNames[0] != "*.wild.acme.test" {
		t.Fatalf("certificate names %v", leaf.DNSNames)
	}
}

// TestACMEFailingChallenge: the CA validates HTTP-01 on a port where nothing
// listens. The listener says why (CertificateReady=False with the CA's
// problem), the rest of the configuration serves, and the order is retried
// after the backoff.
func TestACMEFailingChallenge(t *testing.T) {
	httpPort, httpsPort := freePort(t), freePort(t)
	p := pebble.Start(t, pebble.Options{HTTPPort: freePort(t)}) // not the Gateway's
	app := startHTTPBackend(t, "app")
	g := startGateway(t, map[string]string{
		"issuer.yaml":  acmeIssuerYAML(p, "HTTP01", ""),
		"gateway.yaml": acmeGatewayYAML("fail.acme.test", httpPort, httpsPort) + "---\n" + serviceEntryYAML("app", app.port),
	}, "--state-dir", t.TempDir())
	eventually(t, 60*time.Second, "CertificateReady=False after a failed order", func() error {
		st, reason, msg := condition(t, g.status(), acmeCertReady)
		if st != "False" || reason == "Pending" || reason == "Ordering" {
			return fmt.Errorf("%s=%q %s: %s", acmeCertReady, st, reason, msg)
		}
		if !strings.Contains(msg, "fail.acme.test") {
			return fmt.Errorf("message does not name the host: %s", msg)
		}
		t.Logf("condition: %s=%s %s: %s", acmeCertReady, st, reason, msg)
		return nil
	})
	eventually(t, 60*time.Second, "the order retried", func() error {
		if v := g.metricValue("edgeway_acme_order_failures_total", `secret="web-tls"`); v < 2 {
			return fmt.Errorf("edgeway_acme_order_failures_total = %v, want >= 2", v)
		}
		return nil
	})
	// The HTTP listener keeps serving the user's route meanwhile.
	res, err := do(t, newClient(), "GET", fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "fail.acme.test", nil)
	if err != nil || res.status != http.StatusMovedPermanently {
		t.Fatalf("HTTP listener: %+v %v", res, err)
	}
}
