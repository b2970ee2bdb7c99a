package v1alpha1

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSchemeKnowsEdgewayConfig(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	gvks, _, err := s.ObjectKinds(&EdgewayConfig{})
	if err != nil || len(gvks) != 1 || gvks[0] != GroupVersion.WithKind(KindEdgewayConfig) {
		t.Fatalf("ObjectKinds = %v, %v; want %v", gvks, err, GroupVersion.WithKind(KindEdgewayConfig))
	}
	if _, err := s.New(GroupVersion.WithKind("EdgewayConfigList")); err != nil {
		t.Fatal(err)
	}
}

// DeepCopy must not share any pointer, map or slice with the original.
func TestDeepCopyIsDeep(t *testing.T) {
	r := int32(3)
	in := &EdgewayConfig{Spec: EdgewayConfigSpec{
		Replicas:  &r,
		Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		Service:   &ServiceConfig{Type: corev1.ServiceTypeNodePort, Annotations: map[string]string{"a": "b"}},
		Image:     "img",
	}}
	out := in.DeepCopy()
	if !reflect.DeepEqual(in, out) {
		t.Fatal("copy differs")
	}
	*out.Spec.Replicas = 5
	out.Spec.Service.Annotations["a"] = "changed"
	out.Spec.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("2")
	if *in.Spec.Replicas != 3 || in.Spec.Service.Annotations["a"] != "b" || in.Spec.Resources.Limits.Cpu().String() != "1" {
		t.Fatalf("original changed through the copy: %+v", in.Spec)
	}
}

// The embedded CRDs and the chart's copies are the same generated files.
func TestEmbeddedCRDMatchesChart(t *testing.T) {
	for _, tc := range []struct {
		chart, embedded string
		data            []byte
	}{
		{"gateway.edgeway.dev_edgewayconfigs.yaml", "crd.yaml", CRD},
		{"gateway.edgeway.dev_acmeissuers.yaml", "acmeissuer_crd.yaml", ACMEIssuerCRD},
	} {
		chart, err := os.ReadFile("../../../charts/edgeway/crds/" + tc.chart)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(chart, tc.data) {
			t.Errorf("charts/edgeway/crds/%s differs from controller/apis/v1alpha1/%s; run make apis", tc.chart, tc.embedded)
		}
	}
}

func TestSchemeKnowsACMEIssuer(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	gvks, _, err := s.ObjectKinds(&ACMEIssuer{})
	if err != nil || len(gvks) != 1 || gvks[0] != GroupVersion.WithKind(KindACMEIssuer) {
		t.Fatalf("ObjectKinds = %v, %v; want %v", gvks, err, GroupVersion.WithKind(KindACMEIssuer))
	}
	if _, err := s.New(GroupVersion.WithKind("ACMEIssuerList")); err != nil {
		t.Fatal(err)
	}
}

// ACMEIssuer's DeepCopy (snapshot.ACMECertificate hands a copy to the ACME
// manager) shares nothing with the original.
func TestACMEIssuerDeepCopyIsDeep(t *testing.T) {
	in := &ACMEIssuer{Spec: ACMEIssuerSpec{
		DirectoryURL:           "https://ca.example/dir",
		ExternalAccountBinding: &ACMEExternalAccountBinding{KeyID: "k", KeySecretRef: ACMEKeyRef{Name: "eab", Key: "secret"}},
		DNS01:                  &ACMEDNS01{Provider: "rfc2136", Nameservers: []string{"127.0.0.1:53"}, CredentialsSecretRef: &ACMESecretRef{Name: "dns"}},
	}}
	out := in.DeepCopy()
	if !reflect.DeepEqual(in, out) {
		t.Fatal("copy differs")
	}
	out.Spec.ExternalAccountBinding.KeyID = "changed"
	out.Spec.DNS01.Nameservers[0] = "changed"
	out.Spec.DNS01.CredentialsSecretRef.Name = "changed"
	if in.Spec.ExternalAccountBinding.KeyID != "k" || in.Spec.DNS01.Nameservers[0] != "127.0.0.1:53" || in.Spec.DNS01.CredentialsSecretRef.Name != "dns" {
		t.Fatalf("original changed through the copy: %+v", in.Spec)
	}
}
