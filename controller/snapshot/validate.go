package snapshot

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// normalize does what the API server does on write before validation.
func normalize(obj any) {
	if o, ok := obj.(*corev1.Secret); ok {
		// stringData is folded into data.
		for k, v := range o.StringData {
			if o.Data == nil {
				o.Data = map[string][]byte{}
			}
			o.Data[k] = []byte(v)
		}
		o.StringData = nil
	}
}

// validateObject checks what the API server's built-in validation would refuse
// for the core kinds (custom resources were validated against their CRD in
// applySchema), plus object names for every kind.
func validateObject(obj any) error {
	if m, ok := obj.(metaObject); ok {
		if errs := validation.IsDNS1123Subdomain(m.GetName()); len(errs) > 0 {
			return &FieldError{Field: "metadata.name", Reason: fmt.Sprintf("invalid value %q: %s", m.GetName(), strings.Join(errs, "; "))}
		}
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		if o.Type == corev1.SecretTypeTLS {
			for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
				if _, ok := o.Data[key]; !ok {
					return &FieldError{Field: "data", Reason: fmt.Sprintf("a Secret of type %s needs the key %q (in data, base64, or stringData)", corev1.SecretTypeTLS, key)}
				}
			}
		}
	case *corev1.Service:
		// As the API server: a Service's name is a DNS label (it is one
		// label of <name>.<namespace>.svc.<cluster domain>).
		if errs := validation.IsDNS1035Label(o.Name); len(errs) > 0 {
			return &FieldError{Field: "metadata.name", Reason: fmt.Sprintf("invalid value %q: a Service's name must be a DNS label: %s", o.Name, strings.Join(errs, "; "))}
		}
		if o.Spec.Type == corev1.ServiceTypeExternalName {
			// As the API server: a lower-case DNS name, the alias the
			// data plane resolves.
			name := strings.TrimSuffix(o.Spec.ExternalName, ".")
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				return &FieldError{Field: "spec.externalName", Reason: fmt.Sprintf("invalid value %q: a Service of type ExternalName needs a DNS name: %s", o.Spec.ExternalName, strings.Join(errs, "; "))}
			}
		}
		for i, p := range o.Spec.Ports {
			if p.Port < 1 || p.Port > 65535 {
				return &FieldError{Field: fmt.Sprintf("spec.ports[%d].port", i), Reason: fmt.Sprintf("invalid value %d: must be between 1 and 65535", p.Port)}
			}
		}
	case *discoveryv1.EndpointSlice:
		switch o.AddressType {
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
		default:
			return &FieldError{Field: "addressType", Reason: fmt.Sprintf("unsupported value %q: must be IPv4, IPv6 or FQDN", o.AddressType)}
		}
		if o.Labels[discoveryv1.LabelServiceName] == "" {
			return &FieldError{Field: "metadata.labels", Reason: "an EndpointSlice needs the label " + discoveryv1.LabelServiceName + " naming its Service"}
		}
	}
	return nil
}
