package infra

import (
	"fmt"
	"maps"

	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Objects are the apply configurations of one Gateway's infrastructure
// (without the xDS Secret, see certs.go). Service is nil when the Gateway
// has no listener to expose.
type Objects struct {
	ServiceAccount      *corev1ac.ServiceAccountApplyConfiguration
	Service             *corev1ac.ServiceApplyConfiguration
	Deployment          *appsv1ac.DeploymentApplyConfiguration
	PodDisruptionBudget *policyv1ac.PodDisruptionBudgetApplyConfiguration
}

// Problem is why a Gateway's infrastructure is not (fully) in place: the
// reason and message of its Programmed=False condition.
type Problem struct {
	Reason  gwv1.GatewayConditionReason
	Message string
}

func problemf(reason gwv1.GatewayConditionReason, format string, args ...any) *Problem {
	return &Problem{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// render is the pure part of provisioning: the objects of gw, with the
// ListenerSets attached to it, under cfg. A
// non-nil Problem is reported in status; the objects are still applied
// (everything that can be provisioned is).
func render(gw *gwv1.Gateway, sets []gwv1.ListenerSet, cfg config, o Options) (*Objects, *Problem) {
	name := ResourceName(gw.Name)
	sa := corev1ac.ServiceAccount(name, gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
		WithOwnerReferences(ownerRef(gw)).
		// The data plane never calls the API server.
		WithAutomountServiceAccountToken(false)
	ports := listenerPorts(gw, sets)
	svc, svcProblem := renderService(gw, ports, cfg)
	dep, depProblem := renderDeployment(gw, ports, cfg, o)
	p := depProblem
	if p == nil {
		p = svcProblem
	}
	return &Objects{ServiceAccount: sa, Service: svc, Deployment: dep, PodDisruptionBudget: renderPodDisruptionBudget(gw)}, p
}

// objectLabels: spec.infrastructure.labels, then ours (which win: the
// selector and the managed-by label must stay true).
func objectLabels(gw *gwv1.Gateway) map[string]string {
	l := map[string]string{}
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Labels {
			l[string(k)] = string(v)
		}
	}
	maps.Copy(l, selectorLabels(gw.Name))
	l[LabelComponent] = "dataplane"
	l[LabelManagedBy] = managedBy
	if len(gw.Name) <= 63 {
		l[LabelGateway] = gw.Name
	}
	return l
}

// objectAnnotations: spec.infrastructure.annotations and the Gateway's name.
func objectAnnotations(gw *gwv1.Gateway) map[string]string {
	a := map[string]string{}
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Annotations {
			a[string(k)] = string(v)
		}
	}
	a[AnnotationGateway] = gw.Namespace + "/" + gw.Name
	return a
}

// ownerRef makes the Gateway the controller of each object: the garbage
// collector deletes them with it, and blockOwnerDeletion keeps a
// foreground deletion of the Gateway waiting for them.
func ownerRef(gw *gwv1.Gateway) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(gwv1.GroupVersion.String()).WithKind("Gateway").
		WithName(gw.Name).WithUID(gw.UID).
		WithController(true).WithBlockOwnerDeletion(true)
}
