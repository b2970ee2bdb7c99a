package main

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/gatewayapi"
	"github.com/edgeway/edgeway/controller/snapshot"
	"github.com/edgeway/edgeway/controller/snapshot/snapshottest"
	"github.com/edgeway/edgeway/controller/source/kube"
)

// The Kubernetes source hands an object unchanged since the previous build
// to every later Snapshot as the same object (controller/source/kube
// copies.go), so a reader of the Snapshot that wrote into it would leak the
// write into the next ones. These tests hold the readers in this package
// to writing nothing: the ACME runner and the mesh identity overlay.

// TestACMERunnerDoesNotWriteTheSnapshot: the ACME runner keeps the latest
// Snapshot and hands the ACME manager gatewayapi.ACMECertificates of it;
// that must leave the Snapshot as it was and share nothing with it (the
// manager keeps and may modify what it is given). Every ACME golden input
// of the translator.
func TestACMERunnerDoesNotWriteTheSnapshot(t *testing.T) {
	certificates := 0
	snapshottest.EachGoldenInput(t, "acme*.in.yaml", func(t *testing.T, in string) {
		copies := snapshottest.Copies(t, in, 2, nil)
		snap, pristine := copies[0], copies[1]
		r := &acmeRunner{changed: make(chan struct{}, 1)}
		r.translated(&kube.Result{Snapshot: snap})
		certs := gatewayapi.ACMECertificates(r.latest) // what Start hands the manager
		if !reflect.DeepEqual(snap, pristine) {
			t.Fatal("the ACME runner's reading changed the Snapshot")
		}
		for i := range certs {
			certificates++
			scribbleACMECertificate(&certs[i])
		}
		if !reflect.DeepEqual(snap, pristine) {
			t.Fatal("the certificates handed to the ACME manager share memory with the Snapshot")
		}
	})
	if certificates == 0 {
		t.Error("no ACME golden input yields a certificate: nothing was tested")
	}
}

// scribbleACMECertificate writes into everything c holds.
func scribbleACMECertificate(c *snapshot.ACMECertificate) {
	if c.Issuer != nil {
		c.Issuer.Name, c.Issuer.Spec.DirectoryURL = "written", "https://written.example"
		for k := range c.Issuer.Labels {
			c.Issuer.Labels[k] = "written"
		}
		if eab := c.Issuer.Spec.ExternalAccountBinding; eab != nil {
			eab.KeyID = "written"
		}
	}
	for _, l := range [][]string{c.Domains, c.Gateways, c.HTTP01Addresses, c.TLSALPN01Addresses} {
		for i := range l {
			l[i] = "written"
		}
	}
	for i := range c.CABundle {
		c.CABundle[i] = 'x'
	}
	for k := range c.DNSCredentials {
		c.DNSCredentials[k] = "written"
	}
}

// TestMeshOverlayDoesNotWriteTheSnapshot: the mesh identity overlay
// (Source.SetOverlay, applied to every build) returns a Snapshot with the
// identity Secrets added; the built Snapshot's objects must stay as they
// were, when a certificate is issued, kept and renewed, and writing into
// the overlaid Snapshot's added Secret must not reach them either. The
// overlay's result is never seen by the copy memo (it keeps only what
// build copied), so a Secret it adds cannot be reused by a later build.
func TestMeshOverlayDoesNotWriteTheSnapshot(t *testing.T) {
	now := time.Now()
	clock := now
	ca, err := mesh.GenerateCACerts("m", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	snap, pristine := meshSnapshot(ca), meshSnapshot(ca)
	m := mesh.NewManager(mesh.Options{Now: func() time.Time { return clock }})
	defer m.Stop()
	for _, at := range []time.Duration{0, time.Second, 50 * time.Second} { // issued, kept, renewed
		clock = now.Add(at)
		out := m.Overlay(snap)
		if !reflect.DeepEqual(snap, pristine) {
			t.Fatalf("at +%v: the overlay changed the built Snapshot", at)
		}
		var identity *corev1.Secret
		for _, s := range out.Secrets {
			if s.Name == mesh.SecretName("gw") {
				identity = s
			}
		}
		if identity == nil {
			t.Fatalf("at +%v: no identity Secret in the overlaid Snapshot", at)
		}
		identity.Labels = map[string]string{"written": "yes"}
		for k := range identity.Data {
			identity.Data[k] = []byte("written")
		}
		for k := range identity.Annotations {
			identity.Annotations[k] = "written"
		}
		if !reflect.DeepEqual(snap, pristine) {
			t.Fatalf("at +%v: the overlay's identity Secret shares memory with the built Snapshot", at)
		}
	}
}

// meshSnapshot is a built Snapshot with one Gateway of a class whose
// EdgewayConfig asks for a mesh identity from the cacerts Secret ca.
func meshSnapshot(ca map[string][]byte) *snapshot.Snapshot {
	ns := "istio-system"
	data := map[string][]byte{}
	for k, v := range ca {
		data[k] = append([]byte(nil), v...)
	}
	snap := &snapshot.Snapshot{
		ControllerName: snapshot.DefaultControllerName,
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "edgeway"}, Spec: gwv1.GatewayClassSpec{
			ControllerName: snapshot.DefaultControllerName,
			ParametersRef:  &gwv1.ParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: "mesh", Namespace: (*gwv1.Namespace)(&ns)}}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "edgeway"}}},
		EdgewayConfigs: []*v1alpha1.EdgewayConfig{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mesh"}, Spec: v1alpha1.EdgewayConfigSpec{
			Mesh: &v1alpha1.MeshConfig{CASecretRef: &v1alpha1.MeshSecretRef{Name: "cacerts"}, WorkloadCertificateValidity: &metav1.Duration{Duration: time.Minute}}}}},
		Secrets: []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cacerts"}, Data: data}},
	}
	snap.Sort()
	return snap
}
