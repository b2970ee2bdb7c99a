package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// classParameters validates a GatewayClass's spec.parametersRef: none, or an
// existing EdgewayConfig (gateway.edgeway.dev) in the namespace it names.
// EdgewayConfig is namespaced and a GatewayClass is not, so the namespace is
// required. A problem makes the class Accepted=False InvalidParameters and
// its Gateways are not served; the infrastructure provisioner reads the
// EdgewayConfig itself.
func (t *translator) classParameters(gc *gwv1.GatewayClass) problem {
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return problem{}
	}
	invalid := func(format string, args ...any) problem {
		return problem{string(gwv1.GatewayClassReasonInvalidParameters), fmt.Sprintf(format, args...)}
	}
	if string(ref.Group) != v1alpha1.GroupName || string(ref.Kind) != v1alpha1.KindEdgewayConfig {
		return invalid("spec.parametersRef: %s %q is not supported; edgeway takes group %s, kind %s",
			groupKind(string(ref.Group), string(ref.Kind)), ref.Name, v1alpha1.GroupName, v1alpha1.KindEdgewayConfig)
	}
	if ref.Namespace == nil || *ref.Namespace == "" {
		return invalid("spec.parametersRef.namespace: required, EdgewayConfig %q is a namespaced kind", ref.Name)
	}
	for _, c := range t.snap.EdgewayConfigs {
		if c != nil && c.Namespace == string(*ref.Namespace) && c.Name == ref.Name {
			return problem{}
		}
	}
	return invalid("spec.parametersRef: EdgewayConfig %s/%s not found", *ref.Namespace, ref.Name)
}

func groupKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// gatewayParameters validates a Gateway's spec.infrastructure.parametersRef:
// none, or an existing EdgewayConfig in the Gateway's namespace. The spec has
// a Gateway whose parameters cannot be found, are of an unsupported kind or
// are malformed rejected with Accepted=False InvalidParameters, rather than
// served with defaults the user did not ask for.
func (t *translator) gatewayParameters(gw *gwv1.Gateway) problem {
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return problem{}
	}
	ref := gw.Spec.Infrastructure.ParametersRef
	invalid := func(format string, args ...any) problem {
		return problem{string(gwv1.GatewayReasonInvalidParameters), fmt.Sprintf(format, args...)}
	}
	if string(ref.Group) != v1alpha1.GroupName || string(ref.Kind) != v1alpha1.KindEdgewayConfig {
		return invalid("spec.infrastructure.parametersRef: %s %q is not supported; edgeway takes group %s, kind %s",
			groupKind(string(ref.Group), string(ref.Kind)), ref.Name, v1alpha1.GroupName, v1alpha1.KindEdgewayConfig)
	}
	for _, c := range t.snap.EdgewayConfigs {
		if c != nil && c.Namespace == gw.Namespace && c.Name == ref.Name {
			return problem{}
		}
	}
	return invalid("spec.infrastructure.parametersRef: EdgewayConfig %s/%s not found; create it or remove the reference", gw.Namespace, ref.Name)
}
