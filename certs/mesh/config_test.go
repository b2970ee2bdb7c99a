package mesh

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestGatewayConfig: the Gateway's own EdgewayConfig's spec.mesh wins over
// its class's, defaults fill the rest, and an unusable spec.mesh is an
// error naming the field.
func TestGatewayConfig(t *testing.T) {
	ns := gwv1.Namespace("infra")
	cfg := func(ns, name string, m *v1alpha1.MeshConfig) *v1alpha1.EdgewayConfig {
		return &v1alpha1.EdgewayConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.EdgewayConfigSpec{Mesh: m}}
	}
	snap := &snapshot.Snapshot{
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: gwv1.GatewayClassSpec{
			ParametersRef: &gwv1.ParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: "class", Namespace: &ns}}}},
		EdgewayConfigs: []*v1alpha1.EdgewayConfig{
			cfg("infra", "class", &v1alpha1.MeshConfig{CASecretRef: &v1alpha1.MeshSecretRef{Name: "cacerts"}}),
			cfg("app", "own", &v1alpha1.MeshConfig{TrustDomain: "example.org", ServiceAccount: "edge", CASecretRef: &v1alpha1.MeshSecretRef{Namespace: "mesh", Name: "ca"},
				WorkloadCertificateValidity: &metav1.Duration{Duration: time.Hour}}),
			cfg("app", "replicas-only", nil),
			cfg("app", "too-short", &v1alpha1.MeshConfig{CASecretRef: &v1alpha1.MeshSecretRef{Name: "ca"}, WorkloadCertificateValidity: &metav1.Duration{Duration: time.Second}}),
		},
	}
	gw := func(params string) *gwv1.Gateway {
		g := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "c"}}
		if params != "" {
			g.Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Group: v1alpha1.GroupName, Kind: v1alpha1.KindEdgewayConfig, Name: params}}
		}
		return g
	}
	c, err := GatewayConfig(snap, gw(""))
	if err != nil || c == nil || c.TrustDomain != DefaultTrustDomain || c.ClusterDomain != DefaultClusterDomain || c.CASecret.String() != "infra/cacerts" ||
		c.Validity != DefaultValidity || c.ServiceAccount != "" || c.From != "infra/class" {
		t.Errorf("class config: %+v %v", c, err)
	}
	c, err = GatewayConfig(snap, gw("own"))
	if err != nil || c.TrustDomain != "example.org" || c.ServiceAccount != "edge" || c.CASecret.String() != "mesh/ca" || c.Validity != time.Hour {
		t.Errorf("own config: %+v %v", c, err)
	}
	// An EdgewayConfig of the Gateway without spec.mesh: the class's applies.
	if c, _ = GatewayConfig(snap, gw("replicas-only")); c == nil || c.From != "infra/class" {
		t.Errorf("fallback to the class: %+v", c)
	}
	if _, err = GatewayConfig(snap, gw("too-short")); err == nil || !strings.Contains(err.Error(), "spec.mesh.workloadCertificateValidity: 1s is shorter than the minimum 10s") {
		t.Errorf("too short: %v", err)
	}
	snap.GatewayClasses[0].Spec.ParametersRef = nil
	if c, _ = GatewayConfig(snap, gw("")); c != nil {
		t.Errorf("no mesh configured: %+v", c)
	}
}
