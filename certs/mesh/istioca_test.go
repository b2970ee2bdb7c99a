package mesh_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/test/meshpeer"
)

// TestIstioCAIssue drives IstioCA against a real gRPC server on loopback
// implementing istio.v1.auth.IstioCertificateService (test/meshpeer
// Istiod): the token's identity is signed and verified against the mesh
// root; a token of another service account, an unknown token and a wrong
// root are refused with messages that say so.
func TestIstioCAIssue(t *testing.T) {
	now := time.Now()
	cacerts, err := mesh.GenerateCACerts("istio ca test", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := mesh.SPIFFEID("cluster.local", "edge", "gw-edgeway")
	other := mesh.SPIFFEID("cluster.local", "edge", "someone-else")
	d, err := meshpeer.StartIstiod(cacerts, map[string]*url.URL{"gw-token": id, "other-token": other})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca := &mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "gw-token", ClusterID: "Kubernetes"}
	w, err := ca.Issue(ctx, id, now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cert.URIs[0].String() != id.String() || strings.Count(string(w.ChainPEM), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("identity %v, chain of %d certificates (want leaf and intermediate, no root)", w.Cert.URIs, strings.Count(string(w.ChainPEM), "BEGIN CERTIFICATE"))
	}
	if got := w.Cert.NotAfter.Sub(w.Cert.NotBefore); got < 10*time.Minute || got > 12*time.Minute {
		t.Errorf("lifetime %s, want the requested 10m (plus the CA's backdating)", got)
	}

	bad := []struct {
		name string
		ca   mesh.IstioCA
		want string
	}{
		{"token of another service account", mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "other-token"}, "the token belongs to another service account"},
		{"unknown token", mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "nope"}, "Unauthenticated"},
	}
	otherMesh, _ := mesh.GenerateCACerts("other", now, time.Hour)
	bad = append(bad, struct {
		name string
		ca   mesh.IstioCA
		want string
	}{"root of another mesh", mesh.IstioCA{Address: d.Addr, RootPEM: otherMesh[mesh.KeyRootCert], Token: "gw-token"}, "certificate signed by unknown authority"})
	for _, b := range bad {
		if _, err := b.ca.Issue(ctx, id, now, time.Minute); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want %q", b.name, err, b.want)
		}
	}
}

// TestManagerIstioCA: with spec.mesh.istioCA the Manager asks the CA in the
// background (the first Overlay has no identity yet), calls OnRenewal when
// the certificate arrives, and the next Overlay carries it; a refused
// token never yields one.
func TestManagerIstioCA(t *testing.T) {
	now := time.Now()
	cacerts, err := mesh.GenerateCACerts("manager istio ca", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := mesh.SPIFFEID("cluster.local", "edge", "gw-edgeway")
	d, err := meshpeer.StartIstiod(cacerts, map[string]*url.URL{"gw-token": id})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	snap := istioCASnapshot(d.Addr, cacerts[mesh.KeyRootCert], "gw-token")
	arrived := make(chan struct{}, 4)
	m := mesh.NewManager(mesh.Options{OnRenewal: func() { arrived <- struct{}{} },
		DefaultServiceAccount: func(gw string) string { return gw + "-edgeway" }})
	defer m.Stop()
	if identitySecret(m.Overlay(snap)) != nil {
		t.Fatal("an identity before the CA answered")
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("OnRenewal not called after the CA's answer")
	}
	sec := identitySecret(m.Overlay(snap))
	if sec == nil || sec.Annotations[mesh.AnnotationSPIFFEID] != id.String() {
		t.Fatalf("identity Secret %+v", sec)
	}
	if d.Calls.Load() != 1 {
		t.Errorf("%d calls to the CA, want 1 (the certificate is cached until two thirds of its life)", d.Calls.Load())
	}

	bad := mesh.NewManager(mesh.Options{OnRenewal: func() {}})
	defer bad.Stop()
	refused := istioCASnapshot(d.Addr, cacerts[mesh.KeyRootCert], "stolen")
	bad.Overlay(refused)
	deadline := time.Now().Add(20 * time.Second)
	for d.Refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refused request never reached the CA")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if identitySecret(bad.Overlay(refused)) != nil {
		t.Error("an identity from a refused token")
	}
}

func identitySecret(s *snapshot.Snapshot) *corev1.Secret {
	for _, sec := range s.Secrets {
		if sec.Namespace == "edge" && sec.Name == mesh.SecretName("gw") {
			return sec
		}
	}
	return nil
}

func istioCASnapshot(addr string, root []byte, token string) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{ControllerName: snapshot.DefaultControllerName}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway",
			Infrastructure: &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: "mesh"}}}}},
		EdgewayConfigs: []*v1alpha1.EdgewayConfig{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "mesh"}, Spec: v1alpha1.EdgewayConfigSpec{
			Mesh: &v1alpha1.MeshConfig{IstioCA: &v1alpha1.IstioCAConfig{Address: addr, TokenSecretRef: v1alpha1.MeshSecretRef{Name: "token"}}}}}},
		ConfigMaps: []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: mesh.DefaultRootCertConfigMap}, Data: map[string]string{mesh.RootCertKey: string(root)}}},
		Secrets:    []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "token"}, Data: map[string][]byte{mesh.KeyToken: []byte(token)}}},
	}
}
