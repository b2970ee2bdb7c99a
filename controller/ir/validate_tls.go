package ir

import (
	"strings"
)

// caSecret records a CA bundle secret and checks it holds nothing else.
// It reports whether s is a CA bundle (the caller then skips the
// certificate checks).
func (v *validator) caSecret(at *loc, s *Secret) bool {
	if s.TrustedCA == "" {
		return false
	}
	if v.caSecrets == nil {
		v.caSecrets = map[string]bool{}
	}
	v.caSecrets[s.Name] = true
	if strings.TrimSpace(s.TrustedCA) == "" {
		v.addf("%s.trustedCA: must not be blank", at.String())
	}
	if s.CertChain != "" || s.PrivateKey != "" {
		v.addf("%s: a secret holds either trustedCA or certChain and privateKey, not both", at.String())
	}
	return true
}

// terminateTLS checks what a terminating chain serves and its client
// certificate validation.
func (v *validator) terminateTLS(at *loc, t *TLSTerminate) {
	switch {
	case t.HTTP != nil && t.TCP != nil:
		v.addf("%s: exactly one of http, tcp must be set, found both", at.String())
	case t.TCP != nil:
		v.weighted(at.f(".tcp.backends"), t.TCP.Backends)
	default:
		v.httpChain(at.f(".http"), t.HTTP)
	}
	if cv := t.ClientValidation; cv != nil {
		v.caRef(at.f(".clientValidation.caCertificates"), cv.CACertificates)
	}
}

// caRef requires name to be a CA bundle secret.
func (v *validator) caRef(at *loc, name string) {
	switch {
	case !v.secrets[name]:
		v.addf("%s: secret %q does not exist", at.String(), name)
	case !v.caSecrets[name]:
		v.addf("%s: secret %q holds no trustedCA", at.String(), name)
	}
}

// upstreamTLS checks a cluster's TLS origination; secrets are indexed
// before clusters, so references can be checked here.
func (v *validator) upstreamTLS(at *loc, t *UpstreamTLS) {
	if t == nil {
		return
	}
	if !validUpstreamSNI(t.SNI) {
		v.addf("%s.sni: %q is not a host name", at.String(), t.SNI)
	}
	switch {
	case t.SystemCAs && t.CACertificates != "":
		v.addf("%s: exactly one of caCertificates, systemCAs must be set, found both", at.String())
	case t.SystemCAs:
	case t.CACertificates == "":
		v.addf("%s: exactly one of caCertificates, systemCAs must be set, found none", at.String())
	default:
		v.caRef(at.f(".caCertificates"), t.CACertificates)
	}
	if len(t.SubjectAltNames) == 0 {
		v.addf("%s.subjectAltNames: at least one is required (the certificate would not be bound to any name)", at.String())
	}
	for i, san := range t.SubjectAltNames {
		switch {
		case san.Type != SANDNS && san.Type != SANURI && san.Type != SANURIPrefix:
			v.addf("%s.subjectAltNames[%d].type: %q is not %s, %s or %s", at.String(), i, san.Type, SANDNS, SANURI, SANURIPrefix)
		case san.Value == "":
			v.addf("%s.subjectAltNames[%d].value: must not be empty", at.String(), i)
		}
	}
	seen := map[string]bool{}
	for i, p := range t.ALPN {
		switch {
		case p == "" || len(p) > 255:
			v.addf("%s.alpn[%d]: a protocol id is 1 to 255 bytes long", at.String(), i)
		case seen[p]:
			v.addf("%s.alpn[%d]: %q is listed twice", at.String(), i, p)
		}
		seen[p] = true
	}
	if len(t.ClientCertificateByGateway) > 0 {
		v.addf("%s.clientCertificateByGateway: only for an IR before SplitByGateway; a data plane's IR names one clientCertificate", at.String())
	}
	if t.ClientCertificate != "" {
		switch {
		case !v.secrets[t.ClientCertificate]:
			v.addf("%s.clientCertificate: secret %q does not exist", at.String(), t.ClientCertificate)
		case v.caSecrets[t.ClientCertificate]:
			v.addf("%s.clientCertificate: secret %q is a CA bundle, not a certificate and key", at.String(), t.ClientCertificate)
		}
	}
}

// acmeChallenge checks a TLS-ALPN-01 chain: it answers for exactly one
// exact host name (RFC 8737 validates one identifier per connection, never
// a wildcard), once per listener, with a certificate and key.
func (v *validator) acmeChallenge(at *loc, c *TLSChain, acmeSNI map[string]string) {
	switch {
	case len(c.ServerNames) != 1:
		v.addf("%s.serverNames: an acmeChallenge chain has exactly one server name, found %d", at.String(), len(c.ServerNames))
	case strings.HasPrefix(c.ServerNames[0], "*.") || !validHostname(c.ServerNames[0]):
		v.addf("%s.serverNames: %q is not an exact host name (an acmeChallenge chain validates one host)", at.String(), c.ServerNames[0])
	default:
		sn := c.ServerNames[0]
		if other, ok := acmeSNI[sn]; ok {
			v.addf("%s.serverNames: %q already used by acmeChallenge chain %q", at.String(), sn, other)
		} else {
			acmeSNI[sn] = c.Name
		}
	}
	name := c.ACMEChallenge.Certificate
	switch {
	case name == "":
		v.addf("%s.acmeChallenge.certificate: must not be empty", at.String())
	case !v.secrets[name]:
		v.addf("%s.acmeChallenge.certificate: secret %q does not exist", at.String(), name)
	case v.caSecrets[name]:
		v.addf("%s.acmeChallenge.certificate: secret %q is a CA bundle, not a certificate and key", at.String(), name)
	}
}

// ValidUpstreamSNI reports whether s is a TLS server name Validate accepts
// for a backend (validUpstreamSNI).
func ValidUpstreamSNI(s string) bool { return validUpstreamSNI(s) }

// validUpstreamSNI is a host name whose labels may also hold '_': Istio's
// sidecars expect the SNI outbound_.<port>_._.<service FQDN> (a name no
// DNS lookup ever sees; TLS carries it as bytes).
func validUpstreamSNI(s string) bool {
	// Istio's outbound_.<port>_._.<host> names carry '_', and a ServiceEntry
	// whose hosts are all wildcards gives "*" as a label.
	return validHostname(sniLabelChars.Replace(s))
}

// sniLabelChars maps the characters an upstream SNI may have beyond a host
// name's to one a host name has; built once, not per cluster.
var sniLabelChars = strings.NewReplacer("_", "x", "*", "x")
