package mesh

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// The keys of an Istio "cacerts" Secret (plugged-in CA certificates).
const (
	KeyCACert    = "ca-cert.pem"    // the signing CA certificate
	KeyCAKey     = "ca-key.pem"     // its private key
	KeyRootCert  = "root-cert.pem"  // the mesh root every workload trusts
	KeyCertChain = "cert-chain.pem" // ca-cert.pem and its issuers up to the root
)

// CA is a parsed cacerts Secret.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is what a workload sends after its leaf: cert-chain.pem, or
	// ca-cert.pem when cert-chain.pem is empty (a root CA signing directly).
	Chain    []*x509.Certificate
	ChainPEM []byte
	Roots    []*x509.Certificate
	RootPEM  []byte
}

// ParseCACerts reads the data of a cacerts Secret: every key present, the
// key matching ca-cert.pem, ca-cert.pem a CA whose signatures chain to
// root-cert.pem (through cert-chain.pem). It does not look at the clock
// (the translation that reports it is a pure function): see ValidAt. The
// error says which key is wrong and how.
func ParseCACerts(data map[string][]byte) (*CA, error) {
	for _, k := range []string{KeyCACert, KeyCAKey, KeyRootCert} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("key %s is missing or empty (an Istio cacerts Secret has %s, %s, %s and %s)", k, KeyCACert, KeyCAKey, KeyRootCert, KeyCertChain)
		}
	}
	certs, err := parseCerts(data[KeyCACert])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCACert, err)
	}
	ca := &CA{Cert: certs[0]}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("%s: certificate %q is not a CA (basicConstraints CA:TRUE is required)", KeyCACert, ca.Cert.Subject)
	}
	if ca.Key, err = parseKey(data[KeyCAKey]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCAKey, err)
	}
	if pub, ok := ca.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(ca.Cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match the certificate in %s", KeyCAKey, KeyCACert)
	}
	if ca.Roots, err = parseCerts(data[KeyRootCert]); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyRootCert, err)
	}
	ca.RootPEM = data[KeyRootCert]
	ca.ChainPEM = data[KeyCertChain]
	if len(ca.ChainPEM) == 0 {
		ca.ChainPEM = data[KeyCACert]
	}
	if ca.Chain, err = parseCerts(ca.ChainPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCertChain, err)
	}
	if !chainsTo(ca.Cert, ca.Chain, ca.Roots) {
		return nil, fmt.Errorf("%s does not chain to %s (through %s): workloads trusting that root would refuse the certificates it signs", KeyCACert, KeyRootCert, KeyCertChain)
	}
	return ca, nil
}

// ValidAt says whether the CA certificate can sign at now.
func (ca *CA) ValidAt(now time.Time) error {
	if now.After(ca.Cert.NotAfter) || now.Before(ca.Cert.NotBefore) {
		return fmt.Errorf("%s: certificate %q is valid from %s to %s, not now", KeyCACert, ca.Cert.Subject, ca.Cert.NotBefore.UTC().Format(time.RFC3339), ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// chainsTo follows signatures from c through intermediates (at most 8
// steps) to one of roots.
func chainsTo(c *x509.Certificate, intermediates, roots []*x509.Certificate) bool {
	for range 8 {
		for _, r := range roots {
			if c.Equal(r) || c.CheckSignatureFrom(r) == nil {
				return true
			}
		}
		var next *x509.Certificate
		for _, i := range intermediates {
			if !i.Equal(c) && c.CheckSignatureFrom(i) == nil {
				next = i
				break
			}
		}
		if next == nil {
			return false
		}
		c = next
	}
	return false
}

// ParseCertificates reads every PEM certificate of data (at least one).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) { return parseCerts(data) }

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// parseKey reads PKCS#8, PKCS#1 (RSA, what Istio's tooling writes) or SEC 1
// (EC) keys.
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T key cannot sign", k)
	}
	return s, nil
}
