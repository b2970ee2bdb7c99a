package config

import (
	"crypto/tls"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// clientValidation is a DownstreamTlsContext's client certificate part,
// unresolved: the CA bundle is an SDS secret.
type clientValidation struct {
	caSecret        string
	require         bool // require_client_certificate
	acceptUntrusted bool // trust_chain_verification: ACCEPT_UNTRUSTED
}

// compileClientValidation reads require_client_certificate and the
// validation context: validation_context_sds_secret_config, or
// combined_validation_context whose default_validation_context may only set
// trust_chain_verification. Envoy semantics: with a validation context a
// certificate is requested; require_client_certificate rejects a client
// without one; a presented certificate must verify unless ACCEPT_UNTRUSTED.
func compileClientValidation(rep reporter, loc string, dtc *tlsv3.DownstreamTlsContext) (*clientValidation, error) {
	ctc := dtc.GetCommonTlsContext()
	cv := &clientValidation{require: dtc.GetRequireClientCertificate().GetValue()}
	var sds *tlsv3.SdsSecretConfig
	sdsLoc := loc + ".common_tls_context.validation_context_sds_secret_config"
	switch {
	case ctc.GetValidationContextSdsSecretConfig() != nil:
		sds = ctc.GetValidationContextSdsSecretConfig()
	case ctc.GetCombinedValidationContext() != nil:
		cvc := ctc.GetCombinedValidationContext()
		sds = cvc.GetValidationContextSdsSecretConfig()
		sdsLoc = loc + ".common_tls_context.combined_validation_context.validation_context_sds_secret_config"
		cv.acceptUntrusted = cvc.GetDefaultValidationContext().GetTrustChainVerification() == tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	if sds == nil {
		if cv.require {
			return nil, rep.errf(loc+".require_client_certificate", "requires a validation context (validation_context_sds_secret_config)")
		}
		return nil, nil
	}
	if sds.GetName() == "" {
		return nil, rep.errf(sdsLoc+".name", "secret name is required")
	}
	if err := checkADS(rep, sdsLoc+".sds_config", sds.GetSdsConfig()); err != nil {
		return nil, err
	}
	cv.caSecret = sds.GetName()
	return cv, nil
}

// clientAuth applies client certificate validation to a server config. A
// new Config is compiled for every CA rotation; the socket stays bound, and
// connections already established keep the config they were accepted with.
func clientAuth(rep reporter, loc string, cv *clientValidation, certs map[string]*secret, tc *tls.Config) error {
	if cv == nil {
		return nil
	}
	s, ok := certs[cv.caSecret]
	if !ok {
		return rep.missing(loc+".transport_socket", "secret %q not present", cv.caSecret)
	}
	if s.ca == nil {
		return rep.errf(loc+".transport_socket", "secret %q is a certificate, not a validation context", cv.caSecret)
	}
	tc.ClientCAs = s.ca
	switch {
	case cv.acceptUntrusted && cv.require:
		tc.ClientAuth = tls.RequireAnyClientCert
	case cv.acceptUntrusted:
		tc.ClientAuth = tls.RequestClientCert
	case cv.require:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return nil
}
