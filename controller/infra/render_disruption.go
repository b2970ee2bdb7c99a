package infra

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A Gateway's data plane Pods carry its traffic, so voluntary disruptions
// (a node drain, a cluster upgrade) take them one at a time, and the
// scheduler is asked to put them on different nodes (render_scheduling.go);
// a drain of one node then never takes a whole Gateway down.
//
//   - The PodDisruptionBudget allows one Pod unavailable at a time
//     (maxUnavailable, not minAvailable: a Gateway of one replica must
//     not block a drain for ever; it is down while its Pod moves, which
//     only more replicas avoid).
//   - Unhealthy Pods may always be evicted (unhealthyPodEvictionPolicy
//     AlwaysAllow): a Pod that is not ready serves nothing, and a
//     crash-looping one must not hold a node's drain.

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
