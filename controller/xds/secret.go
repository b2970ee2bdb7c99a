package xds

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/edgeway/edgeway/controller/ir"
)

// secret is the SDS resource for one certificate; listeners refer to it by
// name, so a renewal only pushes this resource.
func secret(s *ir.Secret) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: s.Name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(s.CertChain),
			PrivateKey:       inlineBytes(s.PrivateKey),
		}},
	}
}
