package infra

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// scheduleOn sets where gw's data plane Pods run: the EdgewayConfig's
// spec.scheduling, else the default, a preferred anti-affinity of the
// Gateway's Pods to each other by node, so that the loss or drain of one
// node does not take every replica (the PodDisruptionBudget,
// render_disruption.go, bounds the drains).
func scheduleOn(pod *corev1ac.PodSpecApplyConfiguration, gw *gwv1.Gateway, s v1alpha1.SchedulingConfig) error {
	if len(s.NodeSelector) > 0 {
		pod.WithNodeSelector(s.NodeSelector)
	}
	if len(s.Tolerations) > 0 {
		var ts []*corev1ac.TolerationApplyConfiguration
		if err := convert(s.Tolerations, &ts); err != nil {
			return fmt.Errorf("spec.scheduling.tolerations: %w", err)
		}
		pod.WithTolerations(ts...)
	}
	affinity := spreadAcrossNodes(gw)
	if s.Affinity != nil {
		affinity = &corev1ac.AffinityApplyConfiguration{}
		if err := convert(s.Affinity, affinity); err != nil {
			return fmt.Errorf("spec.scheduling.affinity: %w", err)
		}
	}
	pod.WithAffinity(affinity)
	if len(s.TopologySpreadConstraints) > 0 {
		var cs []*corev1ac.TopologySpreadConstraintApplyConfiguration
		if err := convert(s.TopologySpreadConstraints, &cs); err != nil {
			return fmt.Errorf("spec.scheduling.topologySpreadConstraints: %w", err)
		}
		pod.WithTopologySpreadConstraints(cs...)
	}
	if s.PriorityClassName != "" {
		pod.WithPriorityClassName(s.PriorityClassName)
	}
	return nil
}

// convert turns an API object into its apply configuration: both have the
// same JSON form, which is what the apply configurations are generated from.
func convert(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// spreadAcrossNodes is the Pods' preferred anti-affinity to each other,
// by node: preferred, not required, so that a cluster with fewer nodes
// than replicas still runs them all.
func spreadAcrossNodes(gw *gwv1.Gateway) *corev1ac.AffinityApplyConfiguration {
	return corev1ac.Affinity().WithPodAntiAffinity(corev1ac.PodAntiAffinity().
		WithPreferredDuringSchedulingIgnoredDuringExecution(corev1ac.WeightedPodAffinityTerm().
			WithWeight(100).
			WithPodAffinityTerm(corev1ac.PodAffinityTerm().
				WithTopologyKey(corev1.LabelHostname).
				WithLabelSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(gw.Name))))))
}
