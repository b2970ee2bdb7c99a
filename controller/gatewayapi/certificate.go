package gatewayapi

import (
	"crypto/tls"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// resolveCertificates resolves an HTTPS listener's certificateRefs into IR
// secrets. Any invalid reference makes the listener ResolvedRefs=False and
// unprogrammed: serving with a partial certificate set would silently present
// the wrong certificate to some clients. Expiry is not checked here (no clock
// in a pure translation).
func (t *translator) resolveCertificates(l *listenerCtx) {
	spec := l.spec
	if spec.TLS == nil || len(spec.TLS.CertificateRefs) == 0 {
		l.certProblem = problem{string(gwv1.ListenerReasonInvalidCertificateRef), l.field + ".tls.certificateRefs: an HTTPS listener needs at least one certificate"}
		return
	}
	// A ListenerSet's listener refers from the ListenerSet: its namespace,
	// and ReferenceGrants naming ListenerSets (not the parent Gateway's).
	from := l.owner()
	var names []string
	for i, ref := range spec.TLS.CertificateRefs {
		field := fmt.Sprintf("%s.tls.certificateRefs[%d]", l.field, i)
		group, kind, ns := secretRefParts(ref, from.namespace)
		if group != "" || kind != "Secret" {
			l.certProblem = problem{string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: %s/%s is not supported; reference a core Secret", field, group, kind)}
			return
		}
		if !t.refAllowed(from, objRef{"", "Secret", ns, string(ref.Name)}) {
			l.certProblem = problem{string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant in %s allows %ss from %s to reference it", field, ns, ref.Name, ns, from.kind, from.namespace)}
			return
		}
		s, err := t.certificate(ns, string(ref.Name))
		if err != nil {
			l.certProblem = problem{string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: %v", field, err)}
			return
		}
		if slices.Contains(names, s.Name) {
			// The same Secret named twice (the schema allows it) is one
			// certificate: served once, as the data plane takes each
			// certificate once.
			continue
		}
		names = append(names, s.Name)
	}
	l.certificates = names
}

// certificate validates a kubernetes.io/tls Secret and returns its IR secret
// (deduplicated across listeners).
func (t *translator) certificate(ns, name string) (*ir.Secret, error) {
	k := key(ns, name)
	if s, ok := t.certs[k]; ok {
		return s, nil
	}
	sec := t.secrets[k]
	if sec == nil {
		return nil, fmt.Errorf("Secret %s not found", k)
	}
	if sec.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("Secret %s has type %q, want %q", k, sec.Type, corev1.SecretTypeTLS)
	}
	crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 && sec.StringData != nil {
		crt = []byte(sec.StringData[corev1.TLSCertKey])
	}
	if len(key) == 0 && sec.StringData != nil {
		key = []byte(sec.StringData[corev1.TLSPrivateKeyKey])
	}
	// X509KeyPair parses the chain and the key and checks that they match.
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return nil, fmt.Errorf("Secret %s does not hold a valid certificate and matching key in %s/%s: %v", k, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	s := &ir.Secret{Name: k, CertChain: string(crt), PrivateKey: string(key)}
	t.certs[k] = s
	return s, nil
}

// secretRefParts applies a SecretObjectReference's defaults: the core group,
// kind Secret and the referrer's namespace.
func secretRefParts(ref gwv1.SecretObjectReference, referrerNamespace string) (group, kind, namespace string) {
	group, kind, namespace = "", "Secret", referrerNamespace
	if ref.Group != nil {
		group = coreGroup(string(*ref.Group))
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if ref.Namespace != nil && *ref.Namespace != "" {
		namespace = string(*ref.Namespace)
	}
	return group, kind, namespace
}
