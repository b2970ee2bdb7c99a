package v1alpha1

// The mesh field of EdgewayConfig (spec.mesh) gives the Gateways that use
// the EdgewayConfig an Istio workload identity, so that they originate the
// mutual TLS an Istio sidecar in STRICT mode accepts:
//
//	spec:
//	  mesh:
//	    trustDomain: cluster.local        # optional (default cluster.local)
//	    clusterDomain: cluster.local      # optional: DNS suffix of Services, for the SNI (default cluster.local)
//	    serviceAccount: my-gateway        # optional: the SA of the identity (default: the one edgeway provisions, "<gateway>-edgeway")
//	    caSecretRef:                      # an Istio "cacerts" Secret: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem
//	      namespace: istio-system         # optional (default: the EdgewayConfig's namespace)
//	      name: cacerts
//	    workloadCertificateValidity: 24h  # optional (default 24h, at least 10s): renewed after two thirds
//
// The identity is spiffe://<trustDomain>/ns/<gateway namespace>/sa/<serviceAccount>.

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshConfig is the Istio mesh identity of a Gateway.
type MeshConfig struct {
	// TrustDomain of the mesh (Istio meshConfig.trustDomain); cluster.local
	// when unset.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.\-_]*[a-z0-9])?$`
	TrustDomain string `json:"trustDomain,omitempty"`

	// ClusterDomain is the DNS suffix of Kubernetes Services
	// (<name>.<namespace>.svc.<clusterDomain>), which the SNI a sidecar
	// expects is made of; cluster.local when unset.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.\-]*[a-z0-9])?$`
	ClusterDomain string `json:"clusterDomain,omitempty"`

	// ServiceAccount names the identity of the Gateway in its namespace;
	// when unset, the ServiceAccount edgeway provisions for the Gateway
	// ("<gateway>-edgeway").
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceAccount string `json:"serviceAccount,omitempty"`

	// CASecretRef is the mesh CA as an Istio "cacerts" Secret (keys
	// ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem): edgeway
	// signs the Gateway's workload certificate with it and trusts
	// root-cert.pem for the backends.
	CASecretRef MeshSecretRef `json:"caSecretRef"`

	// WorkloadCertificateValidity is the lifetime of each workload
	// certificate (default 24h, at least 10s); a new one is issued after
	// two thirds of it.
	// +optional
	WorkloadCertificateValidity *metav1.Duration `json:"workloadCertificateValidity,omitempty"`
}

// MeshSecretRef names a Secret, in the EdgewayConfig's namespace unless
// Namespace is set.
type MeshSecretRef struct {
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
