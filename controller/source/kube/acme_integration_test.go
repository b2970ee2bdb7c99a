package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/conformance/apiserver"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/ir"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/xds"
)

// TestACMEInputs runs the Kubernetes source against a real kube-apiserver
// (conformance/apiserver, with the ACMEIssuer CRD from charts/edgeway/crds)
// and follows one ACME listener from a missing issuer to an issued
// certificate: every object ACME translation reads (the ACMEIssuer, its EAB
// key Secret and CA bundle ConfigMap, the state Secret the ACME manager
// writes, the certificate Secret) retriggers a translation when it is
// created or changed, and lands in the Snapshot; Secrets nothing refers to
// stay out of it.
func TestACMEInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver; not in -short")
	}
	api := apiserver.Start(t)
	c := api.Client
	if err := v1alpha1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	const ns, controller = "acme", "edgeway.dev/test-acme-inputs"
	testCA, _ := testCertificate(t, "other")
	src := startSource(t, api, controller)

	create(t, c,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}},
		&gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "acme", Listeners: []gwv1.Listener{
				{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
				{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptr.To(gwv1.Hostname("www.example.com")),
					TLS: &gwv1.ListenerTLSConfig{
						CertificateRefs: []gwv1.SecretObjectReference{{Name: "site-tls"}},
						Options:         map[gwv1.AnnotationKey]gwv1.AnnotationValue{v1alpha1.ACMEListenerOption: "letsencrypt"},
					}},
			}},
		},
		// Not referenced by anything: never in a Snapshot.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-acme-state"}, StringData: map[string]string{"x": "y"}},
	)
	ready := func(want string) func(*Result) error {
		return func(r *Result) error {
			got := certificateReady(r, ns, "web", "https")
			if got == nil || !strings.HasPrefix(string(got.Status)+" "+got.Reason+" "+got.Message, want) {
				return fmt.Errorf("CertificateReady is %+v, want %q", got, want)
			}
			return nil
		}
	}
	waitFor(t, src, "issuer not found", ready("False IssuerNotFound no certificate is ordered: spec.listeners[1].tls.options[\"gateway.edgeway.dev/acme-issuer\"]: ACMEIssuer acme/letsencrypt not found"))

	// The ACMEIssuer CRD is watched; the Secret and ConfigMap it names are
	// referenced as soon as it exists.
	create(t, c, &v1alpha1.ACMEIssuer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "letsencrypt"},
		Spec: v1alpha1.ACMEIssuerSpec{
			DirectoryURL:           "https://acme.example/directory",
			TermsOfServiceAgreed:   true,
			ExternalAccountBinding: &v1alpha1.ACMEExternalAccountBinding{KeyID: "kid-1", KeySecretRef: v1alpha1.ACMEKeyRef{Name: "eab", Key: "hmac"}},
			CABundleRef:            &v1alpha1.ACMEKeyRef{Kind: "ConfigMap", Name: "ca", Key: "ca.crt"},
		},
	})
	waitFor(t, src, "EAB Secret missing", ready("False InvalidIssuer no certificate is ordered: spec.listeners[1].tls.options[\"gateway.edgeway.dev/acme-issuer\"]: ACMEIssuer acme/letsencrypt: spec.externalAccountBinding.keySecretRef: Secret acme/eab not found"))
	create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "eab"}, StringData: map[string]string{"hmac": "c2VjcmV0"}})
	waitFor(t, src, "CA ConfigMap missing", ready("False InvalidIssuer no certificate is ordered: spec.listeners[1].tls.options[\"gateway.edgeway.dev/acme-issuer\"]: ACMEIssuer acme/letsencrypt: spec.caBundleRef: ConfigMap acme/ca not found"))
	create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"}, Data: map[string]string{"ca.crt": testCA}})
	// No address yet: the CA could not reach the Gateway, nothing is ordered.
	waitFor(t, src, "waiting for an address", ready("False Pending waiting for Gateway acme/web to get an address from its load balancer"))
	// The status writer sets status.addresses from the load balancer; that
	// status-only update retranslates.
	if err := c.Status().Patch(context.Background(), &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}},
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"addresses":[{"type":"IPAddress","value":"192.0.2.7"}]}}`))); err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, src, "waiting for the manager", ready("False Pending waiting for the ACME manager"))
	certs := gatewayapi.ACMECertificates(r.Snapshot)
	if len(certs) != 1 || certs[0].Secret != (types.NamespacedName{Namespace: ns, Name: "site-tls"}) || certs[0].EABKey != "c2VjcmV0" ||
		string(certs[0].CABundle) != testCA || !slices.Equal(certs[0].Domains, []string{"www.example.com"}) {
		t.Fatalf("ACMECertificates = %+v", certs)
	}

	// The manager writes its state: the challenge is served on port 80.
	state := func(st snapshot.ACMEState) *corev1.Secret {
		s, err := snapshot.EncodeACMEState(types.NamespacedName{Namespace: ns, Name: "site-tls"}, &st)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ordering := state(snapshot.ACMEState{Issuer: ns + "/letsencrypt", Domains: []string{"www.example.com"}, Phase: snapshot.ACMEPending, Reason: "Ordering", Message: "validating www.example.com",
		HTTP01: []snapshot.ACMEHTTP01Challenge{{Domain: "www.example.com", Token: "tok-1", KeyAuthorization: "tok-1.thumb"}}})
	create(t, c, ordering)
	waitFor(t, src, "HTTP-01 challenge served", func(r *Result) error {
		if err := ready("False Ordering validating www.example.com")(r); err != nil {
			return err
		}
		return hasRoute(r.Nodes[ns+"/web"], "acme-http01/acme/site-tls/tok-1", "tok-1.thumb")
	})

	// Issued: the certificate Secret and a Ready state.
	crt, key := testCertificate(t, "foo")
	create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "site-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte(crt), corev1.TLSPrivateKeyKey: []byte(key)}})
	issued := state(snapshot.ACMEState{Issuer: ns + "/letsencrypt", Domains: []string{"www.example.com"}, Phase: snapshot.ACMEReady, Reason: "Issued", Message: "certificate issued"})
	live := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(ordering), live); err != nil {
		t.Fatal(err)
	}
	live.Data, live.StringData = issued.Data, nil
	if err := c.Update(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	r = waitFor(t, src, "certificate issued", func(r *Result) error {
		if err := ready("True Issued certificate issued")(r); err != nil {
			return err
		}
		if err := hasRoute(r.Nodes[ns+"/web"], "acme-http01/acme/site-tls/tok-1", "tok-1.thumb"); err == nil {
			return fmt.Errorf("the finished challenge is still served")
		}
		for _, s := range r.Nodes[ns+"/web"].Secrets {
			if s.Name == ns+"/site-tls" {
				return nil
			}
		}
		return fmt.Errorf("the certificate is not in the IR")
	})
	var names []string
	for _, s := range r.Snapshot.Secrets {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	if want := []string{"acme/eab", "acme/site-tls", "acme/site-tls-acme-state"}; !slices.Equal(names, want) {
		t.Errorf("Snapshot Secrets = %v, want %v", names, want)
	}
}

// testCertificate is a certificate and key of the translator's golden tests.
func testCertificate(t *testing.T, name string) (crt, key string) {
	t.Helper()
	c, err := os.ReadFile("../../gatewayapi/testdata/certs/" + name + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile("../../gatewayapi/testdata/certs/" + name + ".key")
	if err != nil {
		t.Fatal(err)
	}
	return string(c), string(k)
}

func startSource(t *testing.T, api *apiserver.Server, controller string) *Source {
	t.Helper()
	src, _ := startStoppableSource(t, api, controller)
	return src
}

// startStoppableSource is startSource with a stop: it stops the manager
// (its informers too) and waits for it; the Source's stores keep what they
// held. The test's cleanup stops it too, if the test did not.
func startStoppableSource(t *testing.T, api *apiserver.Server, controller string) (*Source, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := NewManager(api.Config, ManagerOptions{ControllerName: controller, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src, err := New(ctx, mgr, Options{ControllerName: controller, Publisher: xds.NewServer(log), Log: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("manager: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("manager did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	return src, stop
}

// waitFor waits until the latest translation passes check, and returns it.
func waitFor(t *testing.T, src *Source, what string, check func(*Result) error) *Result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	err := fmt.Errorf("no translation yet")
	for time.Now().Before(deadline) {
		if r := src.Latest(); r != nil {
			if err = check(r); err == nil {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30s: %v", what, err)
	return nil
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

func certificateReady(r *Result, ns, gw, listener string) *metav1.Condition {
	for _, g := range r.Statuses.Gateways {
		if g.Namespace != ns || g.Name != gw {
			continue
		}
		for _, l := range g.Status.Listeners {
			if string(l.Name) != listener {
				continue
			}
			for i := range l.Conditions {
				if l.Conditions[i].Type == snapshot.ACMECertificateReady {
					return &l.Conditions[i]
				}
			}
		}
	}
	return nil
}

// hasRoute finds an HTTP-01 route answering body in a Gateway's IR.
func hasRoute(x *ir.IR, name, body string) error {
	if x == nil {
		return fmt.Errorf("no IR")
	}
	for _, rt := range x.RouteTables {
		for _, vh := range rt.VirtualHosts {
			for _, r := range vh.Routes {
				if r.Name == name && r.DirectResponse != nil && r.DirectResponse.Body == body {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("no route %s answering %q", name, body)
}
