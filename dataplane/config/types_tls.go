package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// secret is a compiled SDS Secret: a certificate with its key
// (tls_certificate) or a CA bundle (validation_context.trusted_ca).
type secret struct {
	cert  *tls.Certificate
	ca    *x509.CertPool
	caPEM []byte
}

// ClientAuth is a terminating chain's client certificate validation.
type ClientAuth struct {
	// Mode is the crypto/tls client auth: RequireAndVerifyClientCert
	// (require_client_certificate), VerifyClientCertIfGiven (a validation
	// context without it) or RequestClientCert (ACCEPT_UNTRUSTED: asked
	// for, never rejected).
	Mode tls.ClientAuthType
	CAs  *x509.CertPool
}

// UDPProxy is a compiled udp_proxy listener filter: every new session
// (client address and port) is forwarded to Cluster.
type UDPProxy struct {
	StatPrefix  string
	ClusterName string
	Cluster     *Cluster
	// IdleTimeout ends a session with no datagram in either direction.
	IdleTimeout time.Duration
}

// UpstreamTLS is a cluster's UpstreamTlsContext, resolved against SDS.
type UpstreamTLS struct {
	SNI string
	// SANs: the peer certificate must carry one (exact comparison; a DNS
	// SAN in the certificate may be a wildcard, as in Envoy).
	SANs []SANMatcher
	// ALPN is common_tls_context.alpn_protocols: the protocols offered in
	// the ClientHello (an Istio sidecar selects its mTLS filter chain by
	// them). The negotiated protocol does not change the upstream
	// protocol, which the cluster sets, as in Envoy.
	ALPN []string
	// Config is the client TLS config: chain verification against the
	// cluster's roots and the SAN match run in VerifyConnection.
	Config *tls.Config

	caSecret, certSecret string
	systemRoots          bool
	fingerprint          string // identity for Cluster.Equal (material included)
}

// SANMatcher is one match_typed_subject_alt_names entry.
type SANMatcher struct {
	URI bool // false: DNS
	// Prefix (URI only): the SAN starts with Value, e.g. every SPIFFE
	// identity of one namespace "spiffe://cluster.local/ns/shop/sa/".
	Prefix bool
	Value  string
}

// equal compares two upstream TLS settings, secret material included, so
// that a rotated CA or client certificate yields a new pool.
func (u *UpstreamTLS) equal(o *UpstreamTLS) bool {
	if u == nil || o == nil {
		return u == o
	}
	return u.fingerprint == o.fingerprint
}

// Fingerprint identifies the settings and material (for pool reuse).
func (u *UpstreamTLS) Fingerprint() string {
	if u == nil {
		return ""
	}
	return u.fingerprint
}

func fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
