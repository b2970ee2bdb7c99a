package mesh

import (
	"crypto/x509"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestCACertsAndIssue: a generated cacerts Secret parses, and a workload
// certificate it issues carries only the SPIFFE ID, serves as client and
// server, and verifies against root-cert.pem through the chain it carries.
func TestCACertsAndIssue(t *testing.T) {
	now := time.Now()
	data, err := GenerateCACerts("test mesh", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCACerts(data)
	if err != nil {
		t.Fatal(err)
	}
	id := SPIFFEID("cluster.local", "edge", "gw-edgeway")
	w, err := ca.Issue(id, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Cert.URIs) != 1 || w.Cert.URIs[0].String() != "spiffe://cluster.local/ns/edge/sa/gw-edgeway" || len(w.Cert.DNSNames) != 0 {
		t.Fatalf("SANs %v %v", w.Cert.URIs, w.Cert.DNSNames)
	}
	chain, err := parseCerts(w.ChainPEM)
	if err != nil || len(chain) != 3 {
		t.Fatalf("chain of %d: %v", len(chain), err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM(data[KeyRootCert])
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}
	if want := now.Add(40 * time.Second); !w.RenewAt.Equal(want) {
		t.Errorf("RenewAt %v, want two thirds of a minute after issuance %v", w.RenewAt, want)
	}
}

// TestParseCACertsErrors: each way a cacerts Secret can be wrong is named.
func TestParseCACertsErrors(t *testing.T) {
	now := time.Now()
	good, _ := GenerateCACerts("a", now, time.Hour)
	other, _ := GenerateCACerts("b", now, time.Hour)
	with := func(k string, v []byte) map[string][]byte {
		d := map[string][]byte{}
		for k2, v2 := range good {
			d[k2] = v2
		}
		d[k] = v
		return d
	}
	cases := []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"missing key", with(KeyCAKey, nil), "key ca-key.pem is missing or empty"},
		{"key of another CA", with(KeyCAKey, other[KeyCAKey]), "ca-key.pem does not match the certificate in ca-cert.pem"},
		{"another root", with(KeyRootCert, other[KeyRootCert]), "ca-cert.pem does not chain to root-cert.pem"},
		{"not PEM", with(KeyCACert, []byte("hello")), "ca-cert.pem: no PEM certificate"},
	}
	for _, c := range cases {
		if _, err := ParseCACerts(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	ca, err := ParseCACerts(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.ValidAt(now.Add(2 * time.Hour)); err == nil || !strings.Contains(err.Error(), "not now") {
		t.Errorf("expired CA: %v", err)
	}
}

// TestManagerOverlayAndRenewal: the Manager lays the identity Secret of a
// Gateway whose EdgewayConfig has spec.mesh over the Snapshot, keeps it
// until two thirds of its lifetime, then issues a new one and asks for a
// re-publication.
func TestManagerOverlayAndRenewal(t *testing.T) {
	now := time.Now()
	clock := now
	data, _ := GenerateCACerts("m", now, time.Hour)
	ns := "istio-system"
	snap := &snapshot.Snapshot{
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{
			ControllerName: snapshot.DefaultControllerName,
			ParametersRef:  &gwv1.ParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: "mesh", Namespace: (*gwv1.Namespace)(&ns)}}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway"}}},
		EdgewayConfigs: []*v1alpha1.EdgewayConfig{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mesh"}, Spec: v1alpha1.EdgewayConfigSpec{
			Mesh: &v1alpha1.MeshConfig{CASecretRef: &v1alpha1.MeshSecretRef{Name: "cacerts"}, WorkloadCertificateValidity: &metav1.Duration{Duration: time.Minute}}}}},
		Secrets: []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cacerts"}, Data: data}},
	}
	var renewals atomic.Int32
	m := NewManager(Options{Now: func() time.Time { return clock }, OnRenewal: func() { renewals.Add(1) },
		DefaultServiceAccount: func(gw string) string { return gw + "-edgeway" }})
	defer m.Stop()
	identity := func(s *snapshot.Snapshot) *corev1.Secret {
		t.Helper()
		sec := findSecret(s, "edge", SecretName("gw"))
		if sec == nil {
			t.Fatal("no identity Secret in the overlaid Snapshot")
		}
		return sec
	}
	first := identity(m.Overlay(snap))
	if got := first.Annotations[AnnotationSPIFFEID]; got != "spiffe://cluster.local/ns/edge/sa/gw-edgeway" {
		t.Fatalf("identity %q", got)
	}
	if len(snap.Secrets) != 1 {
		t.Fatal("Overlay modified its input")
	}
	clock = now.Add(39 * time.Second)
	if again := identity(m.Overlay(snap)); string(again.Data[corev1.TLSCertKey]) != string(first.Data[corev1.TLSCertKey]) {
		t.Error("re-issued before two thirds of the lifetime")
	}
	clock = now.Add(40 * time.Second)
	if renewed := identity(m.Overlay(snap)); string(renewed.Data[corev1.TLSCertKey]) == string(first.Data[corev1.TLSCertKey]) {
		t.Error("not re-issued at two thirds of the lifetime")
	}
	// A Gateway whose cacerts Secret is broken gets no identity.
	broken := *snap
	broken.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cacerts"}, Data: map[string][]byte{KeyCACert: data[KeyCACert]}}}
	if findSecret(m.Overlay(&broken), "edge", SecretName("gw")) != nil {
		t.Error("identity issued from a broken cacerts Secret")
	}
}
