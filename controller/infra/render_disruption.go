package infra

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A Gateway's data plane Pods carry its traffic, so voluntary disruptions
// (a node drain, a cluster upgrade) take them one at a time, and the
// scheduler is asked to put them on different nodes; a drain of one node
// then never takes a whole Gateway down.
//
//   - The PodDisruptionBudget allows one Pod unavailable at a time
//     (maxUnavailable, not minAvailable: a Gateway of one replica must
//     not block a drain for ever; it is down while its Pod moves, which
//     only more replicas avoid).
//   - Unhealthy Pods may always be evicted (unhealthyPodEvictionPolicy
//     AlwaysAllow): a Pod that is not ready serves nothing, and a
//     crash-looping one must not hold a node's drain.
//   - The anti-affinity is preferred, not required: a cluster with fewer
//     nodes than replicas still runs them all.

// renderPodDisruptionBudget is the budget of gw's data plane Pods.
func renderPodDisruptionBudget(gw *gwv1.Gateway) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(ResourceName(gw.Name), gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
		WithOwnerReferences(ownerRef(gw)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(gw.Name))).
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithUnhealthyPodEvictionPolicy(policyv1.AlwaysAllow))
}

// spreadAcrossNodes is the Pods' preferred anti-affinity to each other,
// by node.
func spreadAcrossNodes(gw *gwv1.Gateway) *corev1ac.AffinityApplyConfiguration {
	return corev1ac.Affinity().WithPodAntiAffinity(corev1ac.PodAntiAffinity().
		WithPreferredDuringSchedulingIgnoredDuringExecution(corev1ac.WeightedPodAffinityTerm().
			WithWeight(100).
			WithPodAffinityTerm(corev1ac.PodAffinityTerm().
				WithTopologyKey(corev1.LabelHostname).
				WithLabelSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(gw.Name))))))
}
