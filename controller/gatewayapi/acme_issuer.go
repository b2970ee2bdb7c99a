package gatewayapi

import (
	"fmt"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// acmeIssuerRefs is what an ACMEIssuer refers to, read from the Snapshot:
// the ACME manager gets it in snapshot.ACMECertificate and never reads
// Secrets or ConfigMaps itself.
type acmeIssuerRefs struct {
	eabKey         string
	caBundle       []byte
	dnsCredentials map[string]string
}

// acmeIssuerResult caches resolveACMEIssuer per issuer: every listener
// naming an issuer gets the same answer.
type acmeIssuerResult struct {
	refs *acmeIssuerRefs
	err  error
}

// acmeChallenge is the issuer's challenge type, HTTP01 when unset (the
// CRD has no default, the type documents one).
func acmeChallenge(is *v1alpha1.ACMEIssuer) v1alpha1.ACMEChallengeType {
	if is.Spec.Challenge == "" {
		return v1alpha1.ACMEChallengeHTTP01
	}
	return is.Spec.Challenge
}

// resolveACMEIssuer checks what the CRD cannot say about an issuer (DNS01
// needs spec.dns01; the EAB key is in a Secret) and reads the Secrets and
// ConfigMaps it names, all in its own namespace. The error names the issuer
// and the field.
func (t *translator) resolveACMEIssuer(is *v1alpha1.ACMEIssuer) (*acmeIssuerRefs, error) {
	k := key(is.Namespace, is.Name)
	if r, ok := t.acmeIssuerRefs[k]; ok {
		return r.refs, r.err
	}
	refs, err := t.readACMEIssuerRefs(is)
	if err != nil {
		err = fmt.Errorf("ACMEIssuer %s: %w", k, err)
		refs = nil
	}
	t.acmeIssuerRefs[k] = acmeIssuerResult{refs, err}
	return refs, err
}

func (t *translator) readACMEIssuerRefs(is *v1alpha1.ACMEIssuer) (*acmeIssuerRefs, error) {
	spec := &is.Spec
	refs := &acmeIssuerRefs{}
	switch acmeChallenge(is) {
	case v1alpha1.ACMEChallengeHTTP01, v1alpha1.ACMEChallengeTLSALPN01:
	case v1alpha1.ACMEChallengeDNS01:
		if spec.DNS01 == nil {
			return nil, fmt.Errorf("spec.dns01: required with challenge DNS01 (the lego DNS provider and its credentials)")
		}
	default:
		return nil, fmt.Errorf("spec.challenge: %q is not HTTP01, TLSALPN01 or DNS01", spec.Challenge)
	}
	if eab := spec.ExternalAccountBinding; eab != nil {
		if eab.KeySecretRef.Kind != "" && eab.KeySecretRef.Kind != "Secret" {
			return nil, fmt.Errorf("spec.externalAccountBinding.keySecretRef.kind: the HMAC key is a credential and must be in a Secret, not a %s", eab.KeySecretRef.Kind)
		}
		v, err := t.secretValue(is.Namespace, eab.KeySecretRef.Name, eab.KeySecretRef.Key)
		if err != nil {
			return nil, fmt.Errorf("spec.externalAccountBinding.keySecretRef: %w", err)
		}
		refs.eabKey = string(v)
	}
	if ref := spec.CABundleRef; ref != nil {
		var data []byte
		var err error
		switch ref.Kind {
		case "", "Secret":
			data, err = t.secretValue(is.Namespace, ref.Name, ref.Key)
		case "ConfigMap":
			data, err = t.configMapValue(is.Namespace, ref.Name, ref.Key)
		default:
			err = fmt.Errorf("kind %q is not Secret or ConfigMap", ref.Kind)
		}
		if err == nil {
			if perr := checkCABundle(string(data)); perr != nil {
				err = fmt.Errorf("key %q: %v", ref.Key, perr)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("spec.caBundleRef: %w", err)
		}
		refs.caBundle = data
	}
	if dns := spec.DNS01; dns != nil && acmeChallenge(is) == v1alpha1.ACMEChallengeDNS01 && dns.CredentialsSecretRef != nil {
		s := t.secrets[key(is.Namespace, dns.CredentialsSecretRef.Name)]
		if s == nil {
			return nil, fmt.Errorf("spec.dns01.credentialsSecretRef: Secret %s/%s not found", is.Namespace, dns.CredentialsSecretRef.Name)
		}
		refs.dnsCredentials = map[string]string{}
		for k, v := range s.Data {
			refs.dnsCredentials[k] = string(v)
		}
		for k, v := range s.StringData {
			refs.dnsCredentials[k] = v
		}
	}
	return refs, nil
}

// secretValue is one non-empty key of a Secret (data, or stringData in a
// hand-written Snapshot).
func (t *translator) secretValue(ns, name, k string) ([]byte, error) {
	s := t.secrets[key(ns, name)]
	if s == nil {
		return nil, fmt.Errorf("Secret %s/%s not found", ns, name)
	}
	v := s.Data[k]
	if len(v) == 0 && s.StringData != nil {
		v = []byte(s.StringData[k])
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, k)
	}
	return v, nil
}

// configMapValue is one non-empty key of a ConfigMap (data or binaryData).
func (t *translator) configMapValue(ns, name, k string) ([]byte, error) {
	cm := t.configMap(ns, name)
	if cm == nil {
		return nil, fmt.Errorf("ConfigMap %s/%s not found", ns, name)
	}
	if v, ok := cm.Data[k]; ok && v != "" {
		return []byte(v), nil
	}
	if v := cm.BinaryData[k]; len(v) > 0 {
		return v, nil
	}
	return nil, fmt.Errorf("ConfigMap %s/%s has no key %q", ns, name, k)
}
