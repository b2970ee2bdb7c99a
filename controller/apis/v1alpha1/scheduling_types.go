package v1alpha1

import corev1 "k8s.io/api/core/v1"

// SchedulingConfig places each Gateway's data plane Pods: on dedicated
// edge nodes (a node selector and the tolerations of their taints), apart
// from each other, and ahead of other workloads when a node is short of
// room. Unset fields leave the provisioner's defaults: no node selector,
// no tolerations, a preferred anti-affinity that spreads a Gateway's Pods
// over nodes, no priority class.
type SchedulingConfig struct {
	// NodeSelector the Pods' nodes must match.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the Pods, for the taints of dedicated nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the Pods. When set it replaces the default (the
	// Gateway's Pods preferring distinct nodes) as a whole; repeat that
	// term to keep it.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologySpreadConstraints of the Pods (select them with the label
	// app.kubernetes.io/instance: <gateway>-edgeway, or with
	// matchLabelKeys: [pod-template-hash]).
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// PriorityClassName of the Pods: a gateway usually outranks the
	// workloads behind it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}
