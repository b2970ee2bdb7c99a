package config

import (
	"crypto/tls"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

func compileSecret(name string, s *tlsv3.Secret) (*tls.Certificate, error) {
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
	tc := s.GetTlsCertificate()
	if tc == nil {
		return nil, rep.errf("tls_certificate", "required")
	}
	cert, err := tls.X509KeyPair(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		// The tls error never contains key material, only what is wrong.
		return nil, rep.errf("tls_certificate", "invalid certificate chain or private key: %v", err)
	}
	return &cert, nil
}
