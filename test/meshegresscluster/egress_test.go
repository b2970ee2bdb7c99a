package meshegresscluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The egress scenario's names. The "external" hosts are Pods of namespace
// external; the egress Gateway knows them only through ServiceEntries.
const (
	egressNS   = "egress"
	externalNS = "external"
	apiHost    = "api.external.test"    // HTTP, STATIC: the echo-basic Pod's IP
	secureHost = "secure.external.test" // TLS passthrough, STATIC: the Pod's IP
	originHost = "origin.external.test" // plain HTTP originated as TLS, DNS: the Service's cluster name
	// originService is the DNS endpoint of originHost: a name the cluster
	// DNS answers (it answers no other name, and the test sends nothing
	// outside the cluster).
	originService = "origin.external.svc.cluster.local"
	// hiddenHost is declared by a ServiceEntry exported only to its own
	// namespace (external): the egress Gateway must refuse it.
	hiddenHost = "hidden.external.test"
	// impostorHost is declared and originated like originHost, to the same
	// server, whose certificate is for originHost only: the gateway's
	// verification must refuse it.
	impostorHost = "impostor.external.test"
)

type egressScenario struct {
	ca     *externalCA
	apiIP  string // the echo-basic Pod behind api.external.test
	lb     string // the egress Gateway's LoadBalancer address
	metric string // the egress data plane's metrics URL

	dataplanePod string
}

// setUpEgress starts the external servers (echo-basic for HTTP, this test
// binary as HTTPS servers with certificates of a test CA), an egress
// Gateway (EdgewayConfig spec.egress) with an HTTP and a TLS passthrough
// listener, and, once the servers have addresses, the ServiceEntries that
// declare them and the BackendTLSPolicy that originates TLS to one.
func setUpEgress(t *testing.T, e *env) *egressScenario {
	x := &egressScenario{ca: newExternalCA(t)}
	e.apply(t, `apiVersion: v1
kind: Namespace
metadata: {name: egress}
---
apiVersion: v1
kind: Namespace
metadata: {name: external}
`)
	for _, host := range []string{secureHost, originHost} {
		cert, key := x.ca.serverCert(t, host)
		e.secret(t, externalNS, strings.Split(host, ".")[0]+"-tls", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": cert, "tls.key": key})
	}
	tlsServer := func(name string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: external}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - name: server
        image: %[2]s
        env: [{name: NAME, value: %[1]s}, {name: CERT_DIR, value: /etc/tls}, {name: LISTEN, value: ":8443"}]
        ports: [{containerPort: 8443}]
        readinessProbe: {tcpSocket: {port: 8443}, periodSeconds: 1}
        volumeMounts: [{name: tls, mountPath: /etc/tls, readOnly: true}]
      volumes: [{name: tls, secret: {secretName: %[1]s-tls}}]
---
`, name, tlsServerImage)
	}
	e.apply(t, tlsServer("secure")+tlsServer("origin")+`apiVersion: v1
kind: Service
metadata: {name: origin, namespace: external}
spec:
  selector: {app: origin}
  ports: [{name: https, port: 8443, targetPort: 8443}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: external}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: echo
        image: registry.k8s.io/gateway-api/echo-basic
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        ports: [{containerPort: 3000}]
        readinessProbe: {httpGet: {path: /, port: 3000}, periodSeconds: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: external-ca, namespace: egress}
data:
  ca.crt: |
`+indent(string(x.ca.pem), "    ")+`---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: EdgewayConfig
metadata: {name: egress, namespace: egress}
spec:
  egress: {}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: egress, namespace: egress}
spec:
  gatewayClassName: edgeway
  infrastructure:
    parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, name: egress}
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - {name: tls, protocol: TLS, port: 443, tls: {mode: Passthrough}}
`)
	x.apiIP = e.readyPodIP(t, externalNS, "app=api")
	secureIP := e.readyPodIP(t, externalNS, "app=secure")
	// hidden declares a host for its own namespace only: invisible to the
	// egress Gateway's. It comes first: the controller sees it no later
	// than the entries the test waits for.
	e.apply(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: hidden, namespace: external}
spec:
  hosts: [%[7]s]
  exportTo: ["."]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
  resolution: STATIC
  endpoints: [{address: %[2]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [%[1]s]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
  resolution: STATIC
  endpoints: [{address: %[2]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, namespace: egress}
spec:
  hosts: [%[3]s]
  location: MESH_EXTERNAL
  ports: [{number: 443, name: tls, protocol: TLS, targetPort: 8443}]
  resolution: STATIC
  endpoints: [{address: %[4]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: origin, namespace: egress}
spec:
  hosts: [%[5]s]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8443}]
  resolution: DNS
  endpoints: [{address: %[6]s}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: origin-tls, namespace: egress}
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: origin}]
  validation:
    hostname: %[5]s
    caCertificateRefs: [{group: "", kind: ConfigMap, name: external-ca}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: impostor, namespace: egress}
spec:
  hosts: [%[8]s]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8443}]
  resolution: DNS
  endpoints: [{address: %[6]s}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: impostor-tls, namespace: egress}
spec:
  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: impostor}]
  validation:
    hostname: %[8]s
    caCertificateRefs: [{group: "", kind: ConfigMap, name: external-ca}]
`, apiHost, x.apiIP, secureHost, secureIP, originHost, originService, hiddenHost, impostorHost))
	return x
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func (x *egressScenario) check(t *testing.T, e *env) {
	x.lb = e.gatewayAddress(t, egressNS, "egress")
	var dataplaneIP string
	x.dataplanePod, dataplaneIP = e.readyPod(t, egressNS, "app.kubernetes.io/instance=egress-edgeway")
	x.metric = "http://" + net.JoinHostPort(dataplaneIP, "19001") + "/metrics"
	httpURL := "http://" + net.JoinHostPort(x.lb, "80") + "/"
	tlsAddr := net.JoinHostPort(x.lb, "443")
	t.Logf("egress Gateway at %s, metrics at %s", x.lb, x.metric)

	// Until the controller has translated the ServiceEntries, a declared
	// host is refused like any other: wait for each to get through.
	t.Run("HTTP to a declared host", func(t *testing.T) {
		eventually(t, 3*time.Minute, apiHost+" through the egress Gateway", func() error {
			res, err := get(httpURL, apiHost)
			if err != nil {
				return err
			}
			// echo-basic answers with its Pod, Namespace and the Host it got.
			if res.status != http.StatusOK || !strings.Contains(res.body, `"namespace": "external"`) || !strings.Contains(res.body, apiHost) {
				return fmt.Errorf("%d: %s", res.status, res.body)
			}
			return nil
		})
	})
	t.Run("TLS passthrough to a declared host", func(t *testing.T) {
		eventually(t, 3*time.Minute, secureHost+" through the egress Gateway by SNI", func() error {
			status, h, err := httpsGet(tlsAddr, secureHost, x.ca)
			if err != nil {
				return err
			}
			if status != http.StatusOK || h.Get("X-Backend") != "secure" || h.Get("X-SNI") != secureHost {
				return fmt.Errorf("%d from %q (SNI %q)", status, h.Get("X-Backend"), h.Get("X-SNI"))
			}
			return nil
		})
	})
	t.Run("plain HTTP originated as verified TLS", func(t *testing.T) {
		eventually(t, 3*time.Minute, originHost+" through the egress Gateway over TLS", func() error {
			res, err := get(httpURL, originHost)
			if err != nil {
				return err
			}
			if res.status != http.StatusOK || res.header.Get("X-Backend") != "origin" {
				return fmt.Errorf("%d: %s", res.status, res.body)
			}
			if sni := res.header.Get("X-SNI"); sni != originHost {
				return fmt.Errorf("the gateway originated TLS with SNI %q, want %s", sni, originHost)
			}
			return nil
		})
	})

	t.Run("origination verifies the server's certificate", func(t *testing.T) {
		eventually(t, 3*time.Minute, impostorHost+" declared (then refused by the TLS verification, not as undeclared)", func() error {
			res, err := get(httpURL, impostorHost)
			if err != nil {
				return err
			}
			switch {
			case res.status == http.StatusForbidden:
				return fmt.Errorf("still refused as undeclared: %s", res.body)
			case res.status < 500 || res.header.Get("X-Backend") != "":
				t.Fatalf("%s answered %d from %q although its server's certificate is for %s only", impostorHost, res.status, res.header.Get("X-Backend"), originHost)
			}
			t.Logf("%s: %d %s", impostorHost, res.status, strings.TrimSpace(res.body))
			return nil
		})
	})
	t.Run("undeclared hosts refused and counted", func(t *testing.T) {
		httpBefore, tlsBefore := x.refusals(t, "egress/refused", "http"), x.refusals(t, "refuse/*", "tls")
		hosts := []string{"evil.test", "api.external.test.evil.test", hiddenHost}
		for _, host := range hosts {
			res, err := get(httpURL, host)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != http.StatusForbidden || !strings.Contains(res.body, "not declared by any ServiceEntry visible to namespace egress") {
				t.Errorf("Host %s: %d %q, want 403 saying the host is not declared", host, res.status, res.body)
			}
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsAddr, &tls.Config{ServerName: "evil.test", InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS handshake with the undeclared SNI evil.test succeeded")
		}
		if got := x.refusals(t, "egress/refused", "http") - httpBefore; got != len(hosts) {
			t.Errorf("edgeway_proxy_refusals_total{name=egress/refused,protocol=http} grew by %d, want %d", got, len(hosts))
		}
		if got := x.refusals(t, "refuse/*", "tls") - tlsBefore; got != 1 {
			t.Errorf("edgeway_proxy_refusals_total{name=refuse/*,protocol=tls} grew by %d, want 1", got)
		}
		// Each refusal is logged by the data plane with the refused host.
		eventually(t, 30*time.Second, "the egress data plane's log of the refusals", func() error {
			logs, err := e.kube.CoreV1().Pods(egressNS).GetLogs(x.dataplanePod, &corev1.PodLogOptions{}).DoRaw(context.Background())
			if err != nil {
				return err
			}
			for _, want := range append([]string{"request refused by its route", "connection refused by its filter chain"}, hosts...) {
				if !strings.Contains(string(logs), want) {
					return fmt.Errorf("the log lacks %q", want)
				}
			}
			return nil
		})
	})
}

// refusals sums edgeway_proxy_refusals_total of the egress data plane over
// its listeners for one refusing route or chain and protocol.
func (x *egressScenario) refusals(t *testing.T, name, protocol string) int {
	t.Helper()
	resp, err := httpClient.Get(x.metric)
	if err != nil {
		t.Fatalf("the egress data plane's metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "edgeway_proxy_refusals_total{") || !strings.Contains(l, `name="`+name+`"`) || !strings.Contains(l, `protocol="`+protocol+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		sum += int(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// httpsGet sends GET / over TLS to addr with SNI host, trusting ca: the
// answer of the external server itself when the gateway passes TLS through.
func httpsGet(addr, host string, ca *externalCA) (int, http.Header, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: host, RootCAs: ca.roots})
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, err
	}
	res.Body.Close()
	return res.StatusCode, res.Header, nil
}
