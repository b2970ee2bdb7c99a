package config

import (
	"crypto/tls"
	"crypto/x509"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// compileSecret compiles a certificate (tls_certificate) or a CA bundle
// (validation_context with only trusted_ca).
func compileSecret(name string, s *tlsv3.Secret) (*secret, error) {
	rep := reporter{kind: "secret", name: name}
	if s == nil {
		return nil, rep.errf("", "resource is empty")
	}
	if err := checkFields(rep, s); err != nil {
		return nil, err
	}
	if s.GetName() != name {
		return nil, rep.errf("name", "resource name %q differs from its key", s.GetName())
	}
	if vc := s.GetValidationContext(); vc != nil {
		pemData := vc.GetTrustedCa().GetInlineBytes()
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, rep.errf("validation_context.trusted_ca.inline_bytes", "no PEM certificate found")
		}
		return &secret{ca: pool, caPEM: pemData}, nil
	}
	tc := s.GetTlsCertificate()
	if tc == nil {
		return nil, rep.errf("tls_certificate", "required (or validation_context)")
	}
	cert, err := tls.X509KeyPair(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		// The tls error never contains key material, only what is wrong.
		return nil, rep.errf("tls_certificate", "invalid certificate chain or private key: %v", err)
	}
	return &secret{cert: &cert}, nil
}
