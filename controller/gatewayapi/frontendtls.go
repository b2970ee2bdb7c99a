package gatewayapi

import (
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// frontendValidation returns the client certificate validation that
// spec.tls.frontend assigns to a port (perPort overrides default) and the
// field path it came from; nil when there is none.
func frontendValidation(gw *gwv1.Gateway, port uint32) (*gwv1.FrontendTLSValidation, string) {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil, ""
	}
	fe := gw.Spec.TLS.Frontend
	for i := range fe.PerPort {
		if uint32(fe.PerPort[i].Port) == port {
			return fe.PerPort[i].TLS.Validation, fmt.Sprintf("spec.tls.frontend.perPort[%d].tls.validation", i)
		}
	}
	return fe.Default.Validation, "spec.tls.frontend.default.validation"
}

// resolveFrontendTLS applies client certificate validation to an HTTPS
// listener. Per the API: any invalid caCertificateRef makes the listener
// ResolvedRefs=False (InvalidCACertificateRef, InvalidCACertificateKind or
// RefNotPermitted) and the valid ones are still used; if none is valid the
// listener is Accepted=False NoValidCACertificate and not served: serving
// it without validation would let in the clients it was meant to keep out.
func (t *translator) resolveFrontendTLS(l *listenerCtx) {
	gw := l.gw.obj
	v, field := frontendValidation(gw, l.port)
	if v == nil {
		return
	}
	var refs []caRef
	var bundles []string
	for i, r := range v.CACertificateRefs {
		f := fmt.Sprintf("%s.caCertificateRefs[%d]", field, i)
		ref := caRef{group: coreGroup(string(r.Group)), kind: string(r.Kind), namespace: gw.Namespace, name: string(r.Name)}
		if r.Namespace != nil && *r.Namespace != "" {
			ref.namespace = string(*r.Namespace)
		}
		var p problem
		if !t.refAllowed(objRef{gatewayGroup, "Gateway", gw.Namespace, gw.Name}, objRef{ref.group, ref.kind, ref.namespace, ref.name}) {
			p = problem{string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: %s %s/%s is in another namespace and no ReferenceGrant in %s allows Gateways from %s to reference it", f, ref.kind, ref.namespace, ref.name, ref.namespace, gw.Namespace)}
		} else if data, err := t.caBundle(ref, true); errors.Is(err, errCAKind) {
			p = problem{string(gwv1.ListenerReasonInvalidCACertificateKind), fmt.Sprintf("%s: %v", f, err)}
		} else if err != nil {
			p = problem{string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("%s: %v", f, err)}
		} else {
			refs = append(refs, ref)
			bundles = append(bundles, data)
		}
		if !p.ok() && l.caProblem.ok() {
			l.caProblem = p
		}
	}
	if len(refs) == 0 {
		l.accepted = problem{string(gwv1.ListenerReasonNoValidCACertificate), fmt.Sprintf("%s.caCertificateRefs: no valid CA certificate, so client certificates cannot be validated: %s", field, l.caProblem.message)}
		return
	}
	s := t.caSecret(refs, bundles)
	l.clientValidation = &ir.ClientValidation{CACertificates: s.Name, AllowInsecureFallback: v.Mode == gwv1.AllowInsecureFallback}
}

// insecureFrontendCondition is the Gateway's InsecureFrontendValidationMode
// condition: present (True, ConfigurationChanged) while any port uses
// AllowInsecureFallback, absent otherwise, as the API prescribes.
func insecureFrontendCondition(g *gatewayCtx) []metav1.Condition {
	gw := g.obj
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil
	}
	fe := gw.Spec.TLS.Frontend
	var where []string
	if v := fe.Default.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
		where = append(where, "spec.tls.frontend.default")
	}
	for i, pp := range fe.PerPort {
		if v := pp.TLS.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
			where = append(where, fmt.Sprintf("spec.tls.frontend.perPort[%d] (port %d)", i, pp.Port))
		}
	}
	if len(where) == 0 {
		return nil
	}
	return []metav1.Condition{cond(gwv1.GatewayConditionInsecureFrontendValidationMode, true, gwv1.GatewayReasonConfigurationChanged,
		"client certificates are requested but not required (AllowInsecureFallback) in "+strings.Join(where, ", ")+": clients without a valid certificate are let through", gw.Generation)}
}
