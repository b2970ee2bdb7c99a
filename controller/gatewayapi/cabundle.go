package gatewayapi

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeway/edgeway/controller/ir"
)

// caKey is the key holding a PEM CA bundle in a ConfigMap or Secret, as
// Gateway API specifies for caCertificateRefs.
const caKey = "ca.crt"

// caRef is one CA certificate reference, normalised.
type caRef struct {
	group, kind, namespace, name string
}

// errCAKind marks a reference to a kind that cannot hold a CA bundle here.
var errCAKind = errors.New("unsupported kind")

// caBundle reads the PEM bundle of one reference: a ConfigMap, or (when
// allowSecret) a Secret, with at least one certificate in ca.crt. An error
// wrapping errCAKind means the kind is wrong; any other error means the
// object is missing or malformed.
func (t *translator) caBundle(ref caRef, allowSecret bool) (string, error) {
	var data string
	switch {
	case ref.group == "" && ref.kind == "ConfigMap":
		cm := t.configMap(ref.namespace, ref.name)
		if cm == nil {
			return "", fmt.Errorf("ConfigMap %s/%s not found", ref.namespace, ref.name)
		}
		data = cm.Data[caKey]
		if data == "" {
			data = string(cm.BinaryData[caKey])
		}
		if data == "" {
			return "", fmt.Errorf("ConfigMap %s/%s has no key %q", ref.namespace, ref.name, caKey)
		}
	case ref.group == "" && ref.kind == "Secret" && allowSecret:
		s := t.secrets[key(ref.namespace, ref.name)]
		if s == nil {
			return "", fmt.Errorf("Secret %s/%s not found", ref.namespace, ref.name)
		}
		data = string(s.Data[caKey])
		if data == "" && s.StringData != nil {
			data = s.StringData[caKey]
		}
		if data == "" {
			return "", fmt.Errorf("Secret %s/%s has no key %q", ref.namespace, ref.name, caKey)
		}
	default:
		want := "a core ConfigMap"
		if allowSecret {
			want = "a core ConfigMap or Secret"
		}
		return "", fmt.Errorf("%w %s/%s: reference %s", errCAKind, ref.group, ref.kind, want)
	}
	if err := checkCABundle(data); err != nil {
		return "", fmt.Errorf("%s %s/%s key %q: %v", ref.kind, ref.namespace, ref.name, caKey, err)
	}
	return data, nil
}

// checkCABundle requires at least one PEM certificate and nothing that is
// not one: a bundle that is half garbage would silently trust less than
// intended.
func checkCABundle(data string) error {
	rest := []byte(data)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %q is not a CERTIFICATE", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return errors.New("trailing data that is not a PEM certificate")
	}
	return nil
}

// configMap looks a ConfigMap up by namespace and name (the Snapshot is
// sorted, and CA lookups are few, so a scan is enough).
func (t *translator) configMap(ns, name string) *corev1.ConfigMap {
	for _, cm := range t.snap.ConfigMaps {
		if cm != nil && cm.Namespace == ns && cm.Name == name {
			return cm
		}
	}
	return nil
}

// caSecret returns the IR secret for the bundles of refs (concatenated in
// order), named "cacert/<kind>/<ns>/<name>" joined by ",". Secrets are
// shared with certificates in t.certs; the "cacert/" prefix cannot collide
// with a "<ns>/<name>" certificate name (namespaces have no "/").
func (t *translator) caSecret(refs []caRef, bundles []string) *ir.Secret {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = fmt.Sprintf("cacert/%s/%s/%s", strings.ToLower(r.kind), r.namespace, r.name)
	}
	name := strings.Join(names, ",")
	if s, ok := t.certs[name]; ok {
		return s
	}
	var b strings.Builder
	for _, pemData := range bundles {
		b.WriteString(pemData)
		if !strings.HasSuffix(pemData, "\n") {
			b.WriteByte('\n')
		}
	}
	s := &ir.Secret{Name: name, TrustedCA: b.String()}
	t.certs[name] = s
	return s
}
