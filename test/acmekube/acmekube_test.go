package acmekube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/pebble"
)

const (
	ns             = "team-a"
	gatewayName    = "edge"
	controllerName = "edgeway.dev/acmekube"
	appHost        = "app.acme.test"
	failHost       = "fail.acme.test"
)

// TestACMEInKubernetes: an ACMEIssuer and a Gateway whose HTTPS listener
// names it are all a user writes. The controller (real binary, leader)
// orders the certificate from Pebble, the Gateway's own HTTP listener
// answers the HTTP-01 challenge (the data plane gets the challenge route
// over xDS from the state Secret), the certificate lands in the Secret that
// certificateRefs names, the listener reports CertificateReady=True, an
// event on the Gateway says it was issued, and HTTPS serves the route with
// it. A second listener whose issuer's CA cannot reach the Gateway (its
// Pebble validates HTTP-01 on a port where nothing listens) reports
// CertificateReady=False with the failure's reason, a Warning event, and
// retries after the issuer's backoff.
func TestACMEInKubernetes(t *testing.T) {
	started := time.Now()
	api := apiserver.Start(t)
	c, ctx := api.Client, context.Background()
	httpPort, httpsPort := freePort(t), freePort(t)
	ca := pebble.Start(t, pebble.Options{HTTPPort: httpPort})
	// A CA whose validation can never reach the Gateway.
	unreachable := pebble.Start(t, pebble.Options{HTTPPort: freePort(t)})
	t.Logf("API server and two Pebbles up in %v", time.Since(started).Round(time.Millisecond))

	backend := startBackend(t)
	for _, name := range []string{systemNamespace, ns} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, pemData := range map[string][]byte{"pebble-ca": ca.CACertPEM, "unreachable-ca": unreachable.CACertPEM} {
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data: map[string]string{"ca.crt": string(pemData)}}); err != nil {
			t.Fatal(err)
		}
	}

	ctl := startController(t, api, controllerName)
	// Everything at once, as a user applies it: Gateway, routes and issuers.
	applyYAML(t, c, fmt.Sprintf(gatewayManifests, controllerName, backend.port, httpPort, httpsPort, httpsPort, backend.port))
	applyYAML(t, c, fmt.Sprintf(issuerManifests, ca.DirectoryURL, unreachable.DirectoryURL))

	// Until the load balancer gives the Gateway an address the CA could not
	// reach it: nothing is ordered, and the listener says so.
	eventually(t, 60*time.Second, "the ACME listener waiting for the Gateway's address", func() error {
		return listenerConditionMessage(ctx, c, "https", metav1.ConditionFalse, "Pending", "to get an address from its load balancer")
	})

	// The data plane of the Gateway, with its provisioned credentials, and
	// the load balancer's address: the Gateway's status.addresses, which the
	// manager's self-check dials before asking the CA to validate.
	dp := startDataplane(t, c, ctl.xdsAddr, ns, gatewayName)
	t0 := time.Now()
	// The address goes on the Service once it exists: the provisioner
	// applies it after the xDS Secret the data plane starts with, so the
	// data plane can be up first (CI: services "edge-edgeway" not found).
	patch := []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`)
	eventually(t, 30*time.Second, "the Gateway's Service, to give it an address", func() error {
		err := c.Status().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: infra.ResourceName(gatewayName)}},
			client.RawPatch(types.MergePatchType, patch))
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err
	})

	// The certificate lands where certificateRefs points.
	var leaf *x509.Certificate
	eventually(t, 120*time.Second, "Secret app-tls with a certificate for "+appHost+" from Pebble", func() error {
		var sec corev1.Secret
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-tls"}, &sec); err != nil {
			return err
		}
		var err error
		leaf, err = verifyChain(sec.Data["tls.crt"], ca.IssuerRoots(t), appHost)
		if err != nil {
			return err
		}
		if _, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"]); err != nil {
			return fmt.Errorf("tls.crt and tls.key do not match: %w", err)
		}
		if sec.Type != corev1.SecretTypeTLS || sec.Annotations[snapshot.ACMEIssuerAnnotation] != ns+"/pebble" {
			return fmt.Errorf("type %s, annotations %v", sec.Type, sec.Annotations)
		}
		return nil
	})
	t.Logf("certificate issued %v after the Gateway got its address (serial %x, %v to %v)",
		time.Since(t0).Round(time.Millisecond), leaf.SerialNumber, leaf.NotBefore, leaf.NotAfter)

	eventually(t, 30*time.Second, "listener https CertificateReady=True", func() error {
		return listenerCondition(ctx, c, "https", metav1.ConditionTrue, "")
	})
	eventually(t, 30*time.Second, "a Normal event on the Gateway saying the certificate was issued", func() error {
		return gatewayEvent(ctx, c, corev1.EventTypeNormal, "Issued", "")
	})

	// HTTPS with SNI app.acme.test serves that certificate and the route.
	eventually(t, 30*time.Second, "HTTPS on 127.0.0.1 with SNI "+appHost, func() error {
		got, body, err := httpsGet(httpsPort, appHost, ca.IssuerRoots(t))
		if err != nil {
			return err
		}
		if !bytes.Equal(got.Raw, leaf.Raw) {
			return fmt.Errorf("served certificate serial %x, want the Secret's %x", got.SerialNumber, leaf.SerialNumber)
		}
		if body != "backend app" {
			return fmt.Errorf("body %q, want the route's backend", body)
		}
		return nil
	})
	t.Logf("HTTPS served %v after the Gateway got its address; data plane %+v", time.Since(t0).Round(time.Millisecond), dp.Stats())

	// The failing issuer: condition, event and a retry after the backoff.
	var first *snapshot.ACMEState
	eventually(t, 120*time.Second, "the state of fail-tls: Failed", func() error {
		st, err := state(ctx, c, "fail-tls")
		if err != nil {
			return err
		}
		if st.Phase != snapshot.ACMEFailed || st.Failures < 1 || st.Reason != "ChallengeFailed" || st.NextAttempt == nil {
			return fmt.Errorf("state %+v", st)
		}
		first = st
		return nil
	})
	t.Logf("failure reported %v after the Gateway got its address: %s: %s (failures %d, next attempt %v)",
		time.Since(t0).Round(time.Millisecond), first.Reason, first.Message, first.Failures, first.NextAttempt)
	eventually(t, 30*time.Second, "listener https-fail CertificateReady=False with the failure's reason", func() error {
		return listenerCondition(ctx, c, "https-fail", metav1.ConditionFalse, first.Reason)
	})
	eventually(t, 30*time.Second, "a Warning event on the Gateway with the failure's reason", func() error {
		return gatewayEvent(ctx, c, corev1.EventTypeWarning, first.Reason, failHost)
	})
	eventually(t, 90*time.Second, "a retry of fail-tls after the backoff", func() error {
		st, err := state(ctx, c, "fail-tls")
		if err != nil {
			return err
		}
		if st.Failures <= first.Failures {
			return fmt.Errorf("failures still %d (phase %s, next attempt %v)", st.Failures, st.Phase, st.NextAttempt)
		}
		t.Logf("retried: failures %d -> %d, %s", first.Failures, st.Failures, st.Message)
		return nil
	})
	// The failing order never disturbed the issued one.
	if err := listenerCondition(ctx, c, "https", metav1.ConditionTrue, ""); err != nil {
		t.Error(err)
	}
	body, err := httpGet("http://" + ctl.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "edgeway_acme_") {
		t.Errorf("the controller's /metrics has no edgeway_acme_ metric:\n%.3000s", body)
	}
	t.Logf("whole test %v", time.Since(started).Round(time.Millisecond))
}

// issuerManifests: one ACMEIssuer per Pebble.
const issuerManifests = `
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: pebble, namespace: team-a}
spec:
  directoryURL: %q
  email: ops@acme.test
  termsOfServiceAgreed: true
  caBundleRef: {kind: ConfigMap, name: pebble-ca, key: ca.crt}
  challenge: HTTP01
---
apiVersion: gateway.edgeway.dev/v1alpha1
kind: ACMEIssuer
metadata: {name: unreachable, namespace: team-a}
spec:
  directoryURL: %q
  termsOfServiceAgreed: true
  caBundleRef: {kind: ConfigMap, name: unreachable-ca, key: ca.crt}
  challenge: HTTP01
  retry: {initialBackoff: 1s, maxBackoff: 2s}
`

// gatewayManifests: GatewayClass, the backend (a ServiceEntry with a
// static loopback endpoint: EndpointSlice validation refuses 127.0.0.1),
// the Gateway and the HTTPRoute.
const gatewayManifests = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: acmekube}
spec: {controllerName: %q}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: team-a}
spec:
  hosts: [app.backend.test]
  ports: [{number: %d, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: team-a}
spec:
  gatewayClassName: acmekube
  listeners:
  - {name: http, protocol: HTTP, port: %d}
  - name: https
    protocol: HTTPS
    port: %d
    hostname: app.acme.test
    tls:
      mode: Terminate
      certificateRefs: [{name: app-tls}]
      options: {gateway.edgeway.dev/acme-issuer: pebble}
  - name: https-fail
    protocol: HTTPS
    port: %d
    hostname: fail.acme.test
    tls:
      mode: Terminate
      certificateRefs: [{name: fail-tls}]
      options: {gateway.edgeway.dev/acme-issuer: unreachable}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: team-a}
spec:
  parentRefs: [{name: edge}]
  hostnames: [app.acme.test]
  rules:
  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: app, port: %d}]
`

type backend struct{ port int }

// startBackend is the route's backend on loopback.
func startBackend(t *testing.T) backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "backend app") }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return backend{port: lis.Addr().(*net.TCPAddr).Port}
}

// verifyChain parses a PEM chain (leaf first) and verifies it for host
// against roots, with the rest of the chain as intermediates.
func verifyChain(chainPEM []byte, roots *x509.CertPool, host string) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate in tls.crt (%d bytes)", len(chainPEM))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
		return nil, err
	}
	if !slices.Equal(certs[0].DNSNames, []string{host}) {
		return nil, fmt.Errorf("DNS names %v, want exactly %s", certs[0].DNSNames, host)
	}
	return certs[0], nil
}

// httpsGet sends GET / for host to 127.0.0.1:port with SNI host, trusting
// only roots; it returns the leaf the server presented and the body.
func httpsGet(port int, host string, roots *x509.CertPool) (*x509.Certificate, string, error) {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: host, RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(fmt.Sprintf("https://%s:%d/", host, port))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return resp.TLS.PeerCertificates[0], string(b), nil
}

func listenerCondition(ctx context.Context, c client.Client, listener string, status metav1.ConditionStatus, reason string) error {
	return listenerConditionMessage(ctx, c, listener, status, reason, "")
}

// listenerConditionMessage is listenerCondition whose message also contains
// mention.
func listenerConditionMessage(ctx context.Context, c client.Client, listener string, status metav1.ConditionStatus, reason, mention string) error {
	var gw gwv1.Gateway
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: gatewayName}, &gw); err != nil {
		return err
	}
	for _, l := range gw.Status.Listeners {
		if string(l.Name) != listener {
			continue
		}
		cond := apimeta.FindStatusCondition(l.Conditions, snapshot.ACMECertificateReady)
		if cond == nil {
			return fmt.Errorf("listener %s: no %s condition in %+v", listener, snapshot.ACMECertificateReady, l.Conditions)
		}
		if cond.Status != status || (reason != "" && cond.Reason != reason) || cond.Message == "" || !strings.Contains(cond.Message, mention) {
			return fmt.Errorf("listener %s: %s is %s/%s %q, want %s/%s with a message", listener, cond.Type, cond.Status, cond.Reason, cond.Message, status, reason)
		}
		return nil
	}
	return fmt.Errorf("no status of listener %s yet", listener)
}

// gatewayEvent finds an events.k8s.io/v1 Event on the Gateway of type typ
// and reason whose note mentions mention.
func gatewayEvent(ctx context.Context, c client.Client, typ, reason, mention string) error {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	var seen []string
	for _, e := range list.Items {
		if e.Regarding.Kind != "Gateway" || e.Regarding.Name != gatewayName {
			continue
		}
		seen = append(seen, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Note))
		if e.Type == typ && e.Reason == reason && strings.Contains(e.Note, mention) && e.Regarding.UID != "" {
			return nil
		}
	}
	return fmt.Errorf("no %s event %s mentioning %q on the Gateway; events: %q", typ, reason, mention, seen)
}

func state(ctx context.Context, c client.Client, certSecret string) (*snapshot.ACMEState, error) {
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: snapshot.ACMEStateSecretName(certSecret)}, &sec); err != nil {
		return nil, err
	}
	return snapshot.DecodeACMEState(&sec)
}
