// Package v1alpha1 holds edgeway's own configuration API, group
// gateway.edgeway.dev: EdgewayConfig, the kind a GatewayClass points at with
// spec.parametersRef to configure the data plane infrastructure of its
// Gateways (replicas, resources, Service type and annotations, image).
//
// The CRD YAML (charts/edgeway/crds/gateway.edgeway.dev_edgewayconfigs.yaml)
// and zz_generated.deepcopy.go are generated from these types with
// controller-gen (sigs.k8s.io/controller-tools v0.21.0): `make apis`.
//
// +kubebuilder:object:generate=true
// +groupName=gateway.edgeway.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of edgeway's own kinds.
const GroupName = "gateway.edgeway.dev"

// GroupVersion is gateway.edgeway.dev/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// KindEdgewayConfig is the kind a GatewayClass parametersRef must name.
const KindEdgewayConfig = "EdgewayConfig"

var (
	// SchemeBuilder registers this package's types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds EdgewayConfig and ACMEIssuer (and their lists) to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &EdgewayConfig{}, &EdgewayConfigList{}, &ACMEIssuer{}, &ACMEIssuerList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
