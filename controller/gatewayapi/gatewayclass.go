package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// translateGatewayClasses accepts every GatewayClass whose controllerName is
// ours and whose parametersRef, if any, names an existing EdgewayConfig
// (params.go); other controllers' classes get no status from us.
func (t *translator) translateGatewayClasses() {
	for _, gc := range t.snap.GatewayClasses {
		if gc == nil || string(gc.Spec.ControllerName) != t.controllerName {
			continue
		}
		if p := t.classParameters(gc); !p.ok() {
			t.statuses.GatewayClasses = append(t.statuses.GatewayClasses, GatewayClassStatus{
				Name: gc.Name,
				Status: gwv1.GatewayClassStatus{Conditions: []metav1.Condition{
					cond(gwv1.GatewayClassConditionStatusAccepted, false, p.reason, p.message, gc.Generation),
				}},
			})
			continue
		}
		t.classes[gc.Name] = true
		t.statuses.GatewayClasses = append(t.statuses.GatewayClasses, GatewayClassStatus{
			Name: gc.Name,
			Status: gwv1.GatewayClassStatus{
				Conditions: []metav1.Condition{
					cond(gwv1.GatewayClassConditionStatusAccepted, true, gwv1.GatewayClassReasonAccepted,
						"GatewayClass is accepted by "+t.controllerName, gc.Generation),
				},
			},
		})
	}
}
