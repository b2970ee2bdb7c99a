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
//	    caSecretRef:                      # either an Istio "cacerts" Secret: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem
//	      namespace: istio-system         # optional (default: the EdgewayConfig's namespace)
//	      name: cacerts
//	    istioCA:                          # or Istio's CA signing API (istiod)
//	      address: istiod.istio-system.svc:15012          # optional (this default)
//	      rootCertConfigMapRef: {name: istio-ca-root-cert}  # optional (this default, in the Gateway's namespace): key root-cert.pem
//	      tokenSecretRef: {name: gw-istio-token}           # key "token": a ServiceAccount token of the identity, audience istio-ca (in the Gateway's namespace unless namespace is set)
//	      clusterID: Kubernetes                           # optional
//	    workloadCertificateValidity: 24h  # optional (default 24h, at least 10s): renewed after two thirds
//
// The identity is spiffe://<trustDomain>/ns/<gateway namespace>/sa/<serviceAccount>.

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshConfig is the Istio mesh identity of a Gateway.
//
// +kubebuilder:validation:XValidation:rule="has(self.caSecretRef) != has(self.istioCA)",message="set exactly one of caSecretRef (the mesh CA as a cacerts Secret) and istioCA (Istio's CA signing API)"
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
	// root-cert.pem for the backends. Exactly one of caSecretRef and
	// istioCA is set.
	// +optional
	CASecretRef *MeshSecretRef `json:"caSecretRef,omitempty"`

	// IstioCA has Istio's CA (istiod) sign the workload certificate, as an
	// Istio agent does, authenticated with a ServiceAccount token of the
	// identity.
	// +optional
	IstioCA *IstioCAConfig `json:"istioCA,omitempty"`

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

// IstioCAConfig is Istio's CA signing API
// (istio.v1.auth.IstioCertificateService).
type IstioCAConfig struct {
	// Address of the CA, host:port; istiod.istio-system.svc:15012 when
	// unset. Its serving certificate must verify against the mesh root
	// for the host name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=261
	Address string `json:"address,omitempty"`

	// RootCertConfigMapRef is the mesh root (key root-cert.pem), trusted
	// for the CA and for the backends; Istio's istio-ca-root-cert in the
	// Gateway's namespace when unset (Istio copies it into every
	// namespace).
	// +optional
	RootCertConfigMapRef *MeshSecretRef `json:"rootCertConfigMapRef,omitempty"`

	// TokenSecretRef is a Secret whose key "token" holds a ServiceAccount
	// token of the Gateway's identity with audience istio-ca, e.g. from
	// `kubectl create token <gateway>-edgeway --audience istio-ca`; in
	// the Gateway's namespace unless namespace is set. Replace it before
	// it expires.
	TokenSecretRef MeshSecretRef `json:"tokenSecretRef"`

	// ClusterID is sent as the ClusterID request metadata (Istio
	// multi-cluster); none when unset.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClusterID string `json:"clusterID,omitempty"`
}
