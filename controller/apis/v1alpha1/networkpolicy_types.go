package v1alpha1

// spec.networkPolicy of an EdgewayConfig (controller/infra networkpolicy*.go):
//
//	networkPolicy:
//	  enabled: true                       # off by default; false deletes the NetworkPolicy
//	  adminNamespaceSelector:             # who may reach the admin port (metrics, probes)
//	    matchLabels: {kubernetes.io/metadata.name: monitoring}
//	  dns:                                # where the data plane resolves names
//	    to: [{namespaceSelector: {...}, podSelector: {...}}]   # default kube-system k8s-app=kube-dns
//	    port: 53                          # UDP and TCP
//	  clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]   # kept out of egress to hostnames

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkPolicyConfig makes the provisioner emit one NetworkPolicy per
// Gateway, beneath the proxy: its data plane Pods accept connections only
// on the listener ports (and the admin port from the namespaces named
// here), and open connections only to the controller's xDS port, DNS and
// the backends the Gateway routes to. Fields merge one by one, the
// Gateway's EdgewayConfig over its class's.
type NetworkPolicyConfig struct {
	// Enabled emits the NetworkPolicy; false or unset deletes it.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// AdminNamespaceSelector selects the namespaces whose Pods may reach the
	// data plane's admin port (19001: /metrics, /ready, /healthz), e.g. the
	// monitoring namespace. Unset: no namespace. The kubelet's probes are
	// not affected: NetworkPolicy always allows a Pod's own node.
	// +optional
	AdminNamespaceSelector *metav1.LabelSelector `json:"adminNamespaceSelector,omitempty"`

	// DNS is where the data plane resolves the hostnames of DNS backends.
	// Unset: the Pods labelled k8s-app=kube-dns in kube-system, port 53.
	// +optional
	DNS *NetworkPolicyDNS `json:"dns,omitempty"`

	// ClusterCIDRs are the cluster's Pod and Service CIDRs. A backend
	// reached by hostname (a DNS ServiceEntry, an ExternalName Service) can
	// resolve to any address, and a NetworkPolicy cannot name hostnames, so
	// its ports are opened to every address except these: listing them keeps
	// such a backend from reaching in-cluster workloads.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="must be a CIDR such as 10.96.0.0/12 or fd00:10:96::/112"
	ClusterCIDRs []string `json:"clusterCIDRs,omitempty"`
}

// NetworkPolicyDNS is the DNS server of the data plane Pods.
type NetworkPolicyDNS struct {
	// To are the peers that serve DNS (e.g. an ipBlock for NodeLocal
	// DNSCache's link-local address).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	To []networkingv1.NetworkPolicyPeer `json:"to,omitempty"`

	// Port of the DNS servers, opened for UDP and TCP; 53 when unset.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`
}
