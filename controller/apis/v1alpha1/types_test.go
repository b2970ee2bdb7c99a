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

// The embedded CRD and the chart's copy are the same generated file.
func TestEmbeddedCRDMatchesChart(t *testing.T) {
	chart, err := os.ReadFile("../../../charts/edgeway/crds/gateway.edgeway.dev_edgewayconfigs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chart, CRD) {
		t.Fatal("charts/edgeway/crds/gateway.edgeway.dev_edgewayconfigs.yaml differs from controller/apis/v1alpha1/crd.yaml; run make apis")
	}
}
