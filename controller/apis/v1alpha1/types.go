package v1alpha1

// The shape of the CRD (for the Helm chart and for part C, which renders
// infrastructure from it):
//
//	apiVersion: gateway.edgeway.dev/v1alpha1
//	kind: EdgewayConfig            # namespaced; plural edgewayconfigs; no status
//	metadata: {namespace: ..., name: ...}
//	spec:
//	  replicas: 2                  # int32 >= 0, optional (default: 1, decided by the provisioner)
//	  resources: {...}             # corev1.ResourceRequirements of the data plane container, optional
//	  image: ghcr.io/...:tag       # optional (default: the controller's own image)
//	  imagePullPolicy: IfNotPresent   # Always | IfNotPresent | Never, optional
//	  service:                     # the per-Gateway Service, optional
//	    type: LoadBalancer         # ClusterIP | NodePort | LoadBalancer (default LoadBalancer)
//	    annotations: {k: v}        # added to the Service (cloud LB settings)
//	    externalTrafficPolicy: Local   # Cluster | Local, optional
//	    addressAnnotation: metallb.io/loadBalancerIPs   # how spec.addresses reach the load balancer, optional
//
// A GatewayClass refers to it with
//
//	parametersRef: {group: gateway.edgeway.dev, kind: EdgewayConfig, namespace: <ns>, name: <name>}
//
// namespace is required (a GatewayClass is cluster-scoped); anything else makes
// the GatewayClass Accepted=False with reason InvalidParameters.

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EdgewayConfig configures the data plane infrastructure of the Gateways of
// a GatewayClass that points at it with spec.parametersRef.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=gateway-api;edgeway
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.type`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EdgewayConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec EdgewayConfigSpec `json:"spec,omitempty"`
}

// EdgewayConfigSpec is the data plane infrastructure of each Gateway. Every
// field is optional; an unset field takes the provisioner's default.
type EdgewayConfigSpec struct {
	// Replicas is the number of data plane Pods per Gateway.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources of the data plane container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service configures the Service that exposes each Gateway.
	// +optional
	Service *ServiceConfig `json:"service,omitempty"`

	// Image of the data plane container (the edgeway binary).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the data plane container.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Egress makes the Gateway an egress gateway (egress_types.go).
	// +optional
	Egress *EgressConfig `json:"egress,omitempty"`

	// NetworkPolicy beneath the data plane (networkpolicy_types.go); off by default.
	// +optional
	NetworkPolicy *NetworkPolicyConfig `json:"networkPolicy,omitempty"`

	// Mesh gives the Gateway an Istio workload identity for mTLS to mesh backends (mesh_types.go).
	// +optional
	Mesh *MeshConfig `json:"mesh,omitempty"`

	// Scheduling places the data plane Pods (scheduling_types.go).
	// +optional
	Scheduling *SchedulingConfig `json:"scheduling,omitempty"`
}

// ServiceConfig is the Service in front of a Gateway's data plane.
type ServiceConfig struct {
	// Type of the Service; LoadBalancer when unset.
	// +optional
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to the Service (e.g. cloud load balancer settings).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// ExternalTrafficPolicy of the Service (NodePort and LoadBalancer only).
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// AddressAnnotation is the Service annotation that asks the load balancer
	// for the IPs of a Gateway's spec.addresses (comma-separated), e.g.
	// metallb.io/loadBalancerIPs. Kubernetes has no portable field for it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	AddressAnnotation string `json:"addressAnnotation,omitempty"`
}

// EdgewayConfigList is a list of EdgewayConfig.
//
// +kubebuilder:object:root=true
type EdgewayConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EdgewayConfig `json:"items"`
}
