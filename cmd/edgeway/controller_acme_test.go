package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/test/testport"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/acme"
	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/infra"
	"github.com/edgeway/edgeway/controller/kubecontroller"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/pebble"
)

// acmeReplica is one controller replica with the ACME manager wired as
// `edgeway controller` wires it, with a metrics registry of its own.
type acmeReplica struct {
	name   string
	ctl    *kubecontroller.Controller
	runner *acmeRunner
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (r *acmeReplica) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("replica %s: %v", r.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("replica %s did not stop within 30s", r.name)
		}
	})
}

// orders is the replica's edgeway_acme_orders_total for a certificate
// Secret name ("" for all).
func (r *acmeReplica) orders(t *testing.T, secret string) float64 {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "edgeway_acme_orders_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "secret" && (secret == "" || l.GetValue() == secret) {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func startACMEReplica(t *testing.T, api *apiserver.Server, name, controllerName, leaseNamespace string) *acmeReplica {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &acmeReplica{name: name, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("EDGEWAY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.ctl, err = kubecontroller.New(ctx, kubecontroller.Config{
		RestConfig: api.Config, ControllerName: controllerName, XDSListener: lis,
		LeaderElection: true, LeaderElectionNamespace: leaseNamespace, Identity: name,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 200 * time.Millisecond,
		Debounce: 20 * time.Millisecond, Log: log,
		Hooks: []func(*kubecontroller.Controller) error{func(c *kubecontroller.Controller) error {
			var err error
			r.runner, err = installACME(c, acmeOptions{Registerer: r.reg, Log: log})
			return err
		}, func(c *kubecontroller.Controller) error {
			// The provisioner: each Gateway's Service, whose load balancer
			// address (giveAddress) becomes the Gateway's status.addresses.
			_, _, err := infra.Install(ctx, c, infra.InstallOptions{
				Options: infra.Options{ControllerName: controllerName, Image: "edgeway:test",
					XDSAddress: "edgeway-xds." + leaseNamespace + ".svc:18000"},
				Namespace: leaseNamespace, CASecretName: "edgeway-xds-ca",
				XDSDNSNames: ca.ServiceDNSNames("edgeway-xds", leaseNamespace, "cluster.local"), Log: log,
			})
			return err
		}},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { r.done <- r.ctl.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// challengeResponder answers Pebble's HTTP-01 requests from the state
// Secrets in the API server, as every data plane does from its xDS: this
// test is about which replica orders, so it needs no data plane.
func challengeResponder(t *testing.T, c client.Client, port int) {
	t.Helper()
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
		if !ok {
			http.NotFound(w, req)
			return
		}
		var list corev1.SecretList
		if err := c.List(req.Context(), &list, client.MatchingLabels{snapshot.ACMEStateLabel: "true"}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for i := range list.Items {
			st, err := snapshot.DecodeACMEState(&list.Items[i])
			if err != nil {
				continue
			}
			for _, ch := range st.HTTP01 {
				if ch.Token == token && strings.EqualFold(ch.Domain, hostOnly(req.Host)) {
					io.WriteString(w, ch.KeyAuthorization)
					return
				}
			}
		}
		http.NotFound(w, req)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// TestACMEOnlyTheLeaderOrders: two replicas with leader election against
// one API server. Only the leader's ACME manager orders (the follower's
// order counter stays at zero while the leader issues); when the leader
// stops, the other replica takes over, orders a new certificate, and does
// not order again the one the first leader issued (its state and account
// live in Secrets, not in the replica).
func TestACMEOnlyTheLeaderOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver and Pebble; not in -short")
	}
	api := apiserver.Start(t)
	c, ctx := api.Client, context.Background()
	httpPort := freePort(t)
	ca := pebble.Start(t, pebble.Options{HTTPPort: httpPort})
	challengeResponder(t, c, httpPort)

	const (
		ns             = "team-a"
		leases         = "edgeway-system"
		controllerName = "edgeway.dev/acme-leader-test"
	)
	for _, n := range []string{ns, leases} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	a := startACMEReplica(t, api, "replica-a", controllerName, leases)
	b := startACMEReplica(t, api, "replica-b", controllerName, leases)

	objs := []client.Object{
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "acme-leader"}, Spec: gwv1.GatewayClassSpec{ControllerName: controllerName}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pebble-ca"}, Data: map[string]string{"ca.crt": string(ca.CACertPEM)}},
		&v1alpha1.ACMEIssuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pebble"}, Spec: v1alpha1.ACMEIssuerSpec{
			DirectoryURL: ca.DirectoryURL, TermsOfServiceAgreed: true, Challenge: v1alpha1.ACMEChallengeHTTP01,
			CABundleRef: &v1alpha1.ACMEKeyRef{Kind: "ConfigMap", Name: "pebble-ca", Key: "ca.crt"},
		}},
		acmeGateway(ns, "first", "acme-leader", "app.acme.test", "app-tls", httpPort),
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	giveAddress(t, c, ns, "first")

	var leader, follower *acmeReplica
	waitFor(t, "one replica leads and runs the ACME manager", func() error {
		switch ra, rb := a.runner.running.Load(), b.runner.running.Load(); {
		case ra && !rb:
			leader, follower = a, b
		case rb && !ra:
			leader, follower = b, a
		default:
			return fmt.Errorf("ACME manager running: a=%v b=%v", ra, rb)
		}
		return nil
	})
	issued := func(secret, host string) func() error {
		return func() error {
			var s corev1.Secret
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: secret}, &s); err != nil {
				return err
			}
			return verifyIssued(s.Data["tls.crt"], ca.IssuerRoots(t), host)
		}
	}
	t0 := time.Now()
	waitLong(t, "the first certificate issued", issued("app-tls", "app.acme.test"))
	t.Logf("%s leads; first certificate issued in %v", leader.name, time.Since(t0).Round(time.Millisecond))
	if n := leader.orders(t, "app-tls"); n < 1 {
		t.Errorf("the leader (%s) counted %v orders", leader.name, n)
	}
	if n := follower.orders(t, ""); n != 0 {
		t.Errorf("the follower (%s) ordered %v certificates", follower.name, n)
	}
	if follower.runner.running.Load() {
		t.Errorf("the follower's ACME manager runs")
	}
	var account corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: acme.AccountSecretName("pebble")}, &account); err != nil {
		t.Fatalf("account Secret: %v", err)
	}
	waitFor(t, "an Issued event on the Gateway", func() error {
		var list eventsv1.EventList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == "Gateway" && e.Regarding.Name == "first" && e.Reason == "Issued" && e.Type == corev1.EventTypeNormal {
				if e.ReportingController != acmeEventSource {
					return fmt.Errorf("reported by %q", e.ReportingController)
				}
				return nil
			}
		}
		return fmt.Errorf("%d events, none Issued on Gateway first", len(list.Items))
	})

	// Hand-over: the leader stops (releasing its Lease), the follower leads.
	t0 = time.Now()
	leader.stop(t)
	waitFor(t, "the other replica runs the ACME manager", func() error {
		if !follower.runner.running.Load() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	t.Logf("%s runs the ACME manager %v after %s stopped", follower.name, time.Since(t0).Round(time.Millisecond), leader.name)
	t0 = time.Now()
	if err := c.Create(ctx, acmeGateway(ns, "second", "acme-leader", "www.acme.test", "www-tls", httpPort)); err != nil {
		t.Fatal(err)
	}
	giveAddress(t, c, ns, "second")
	waitLong(t, "the second certificate issued by the new leader", issued("www-tls", "www.acme.test"))
	t.Logf("second certificate issued by %s in %v", follower.name, time.Since(t0).Round(time.Millisecond))
	if n := follower.orders(t, "www-tls"); n < 1 {
		t.Errorf("the new leader counted %v orders for www-tls", n)
	}
	if n := follower.orders(t, "app-tls"); n != 0 {
		t.Errorf("the new leader ordered app-tls again (%v orders) although the first leader had issued it", n)
	}
	var after corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(&account), &after); err != nil {
		t.Fatal(err)
	}
	if string(after.Data["key.pem"]) != string(account.Data["key.pem"]) {
		t.Error("the new leader replaced the account key")
	}
}

// acmeGateway has an HTTP listener (HTTP-01 is answered there) and an
// HTTPS listener for host whose certificate an ACMEIssuer obtains.
// giveAddress plays the cloud load balancer: the Gateway's Service gets
// 127.0.0.1, which becomes the Gateway's status.addresses (ACME orders only
// for a Gateway with an address: the CA must reach it).
func giveAddress(t *testing.T, c client.Client, ns, gateway string) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: infra.ResourceName(gateway)}}
	waitFor(t, "the load balancer address of Gateway "+gateway, func() error {
		return c.Status().Patch(context.Background(), svc, client.RawPatch(types.MergePatchType, []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`)))
	})
}

// acmeGateway's HTTP listener is on httpPort, where the test's challenge
// responder answers (and the manager's self-check finds it).
func acmeGateway(ns, name, class, host, secret string, httpPort int) *gwv1.Gateway {
	return &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: gwv1.GatewaySpec{
		GatewayClassName: gwv1.ObjectName(class),
		Listeners: []gwv1.Listener{
			{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: gwv1.PortNumber(httpPort)},
			{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To(gwv1.Hostname(host)),
				TLS: &gwv1.ListenerTLSConfig{
					CertificateRefs: []gwv1.SecretObjectReference{{Name: gwv1.ObjectName(secret)}},
					Options:         map[gwv1.AnnotationKey]gwv1.AnnotationValue{v1alpha1.ACMEListenerOption: "pebble"},
				}},
		},
	}}
}

func verifyIssued(chainPEM []byte, roots *x509.CertPool, host string) error {
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return fmt.Errorf("no certificate yet")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// waitLong is waitFor for an ACME order (lego polls an authorization after
// ~5 s; the machine is shared).
func waitLong(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within 120s: %v", what, err)
}

// freePort is a loopback port to name before its listener starts, one the
// kernel gives to no port-0 bind (testport).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEventNoteFitsTheAPI: the API server refuses an events.k8s.io note
// over 1024 bytes (it does not cut it), and lego's errors can be long.
func TestEventNoteFitsTheAPI(t *testing.T) {
	ev := acme.Event{Secret: types.NamespacedName{Namespace: "team-a", Name: "app-tls"}, Message: "order failed"}
	if got := eventNote(ev); got != "team-a/app-tls: order failed" {
		t.Errorf("note %q", got)
	}
	ev.Message = strings.Repeat("é", 2000)
	got := eventNote(ev)
	if len(got) > maxEventNote || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("note of %d bytes, valid UTF-8 %v, ends %q", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}
