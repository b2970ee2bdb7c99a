package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeway/edgeway/controller/ir"
)

// clientValidation adds client certificate validation to a downstream TLS
// context. The CA bundle is an SDS secret (validation_context), so a CA
// rotation is an SDS push that leaves the listener untouched.
//
// AllowValidOnly: require_client_certificate and the SDS validation context.
// AllowInsecureFallback: a certificate is requested (a validation context is
// set) but not required, and trust_chain_verification ACCEPT_UNTRUSTED lets
// a failing one through; Envoy only allows that setting inside a
// CertificateValidationContext, hence combined_validation_context
// (default_validation_context merged with the SDS one).
func clientValidation(ctx *tlsv3.DownstreamTlsContext, cv *ir.ClientValidation) {
	if cv == nil {
		return
	}
	sds := &tlsv3.SdsSecretConfig{Name: cv.CACertificates, SdsConfig: adsConfigSource()}
	if !cv.AllowInsecureFallback {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds}
		return
	}
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
		DefaultValidationContext:         &tlsv3.CertificateValidationContext{TrustChainVerification: tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED},
		ValidationContextSdsSecretConfig: sds,
	}}
}

// upstreamTLS is a cluster's transport_socket for BackendTLSPolicy:
// UpstreamTlsContext with the SNI, the client certificate over SDS, and a
// combined validation context: the subject alt names (in the cluster, they
// are policy) merged with the CA bundle over SDS (it rotates). System CAs
// need no SDS: validation_context with system_root_certs.
func (t *translator) upstreamTLS(u *ir.UpstreamTLS) *corev3.TransportSocket {
	sans := make([]*tlsv3.SubjectAltNameMatcher, 0, len(u.SubjectAltNames))
	for _, s := range u.SubjectAltNames {
		typ := tlsv3.SubjectAltNameMatcher_DNS
		var m matcherv3.StringMatcher
		m.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: s.Value}
		switch s.Type {
		case ir.SANURI:
			typ = tlsv3.SubjectAltNameMatcher_URI
		case ir.SANURIPrefix:
			typ = tlsv3.SubjectAltNameMatcher_URI
			m.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: s.Value}
		}
		sans = append(sans, &tlsv3.SubjectAltNameMatcher{SanType: typ, Matcher: &m})
	}
	common := &tlsv3.CommonTlsContext{AlpnProtocols: append([]string(nil), u.ALPN...)}
	if u.SystemCAs {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			SystemRootCerts:           &tlsv3.CertificateValidationContext_SystemRootCerts{},
			MatchTypedSubjectAltNames: sans,
		}}
	} else {
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: u.CACertificates, SdsConfig: adsConfigSource()},
		}}
	}
	if u.ClientCertificate != "" {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: u.ClientCertificate, SdsConfig: adsConfigSource()}}
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: u.SNI, CommonTlsContext: common}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.any(ctx)},
	}
}

// caSecret is the SDS resource of a CA bundle: a validation context with
// only trusted_ca; the policy parts (SANs, trust mode) live in the listener
// or cluster, so a CA rotation changes nothing but this resource.
func caSecret(s *ir.Secret) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: s.Name,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(s.TrustedCA),
		}},
	}
}
