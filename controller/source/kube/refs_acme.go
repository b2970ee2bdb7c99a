package kube

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// acmeListener records what translation reads for a listener naming an
// ACMEIssuer (controller/gatewayapi/acme*.go): the state Secret the ACME
// manager writes beside the certificate Secret (its order's phase and the
// challenges to serve), and the issuer's EAB key Secret, CA bundle and DNS
// credentials Secret. Each is recorded whether it exists or not, so the
// manager creating or updating one triggers a translation: that is how a
// challenge reaches the data plane and a condition the Gateway.
func (r references) acmeListener(s *snapshot.Snapshot, listenerNamespace string, tls *gwv1.ListenerTLSConfig) {
	name, ok := tls.Options[gwv1.AnnotationKey(v1alpha1.ACMEListenerOption)]
	if !ok {
		return
	}
	if refs := tls.CertificateRefs; len(refs) > 0 {
		ref := refs[0]
		if (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Secret") {
			r.secrets[refNamespace(listenerNamespace, ref.Namespace)+"/"+snapshot.ACMEStateSecretName(string(ref.Name))] = true
		}
	}
	for _, is := range s.ACMEIssuers {
		if is != nil && is.Namespace == listenerNamespace && is.Name == string(name) {
			r.acmeIssuer(is)
		}
	}
}

// acmeIssuer records the Secrets and ConfigMaps an issuer names, all in its
// own namespace.
func (r references) acmeIssuer(is *v1alpha1.ACMEIssuer) {
	ns := is.Namespace
	if eab := is.Spec.ExternalAccountBinding; eab != nil {
		r.secrets[ns+"/"+eab.KeySecretRef.Name] = true
	}
	if ca := is.Spec.CABundleRef; ca != nil {
		if ca.Kind == "ConfigMap" {
			r.configMaps[ns+"/"+ca.Name] = true
		} else {
			r.secrets[ns+"/"+ca.Name] = true
		}
	}
	if dns := is.Spec.DNS01; dns != nil && dns.CredentialsSecretRef != nil {
		r.secrets[ns+"/"+dns.CredentialsSecretRef.Name] = true
	}
}
