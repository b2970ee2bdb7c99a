package snapshot

// ACME: the contract between the ACME manager (certs/acme), the sources and
// the translation.
//
// The ACME manager's whole output is Secrets, in the namespace of the
// certificate Secret a listener's certificateRefs[0] names:
//
//   - the certificate Secret itself (type kubernetes.io/tls, tls.crt + tls.key,
//     annotations ACMEIssuerAnnotation and ACMEDomainsAnnotation), which the
//     listener then serves like any other certificate, over SDS;
//   - a state Secret, named ACMEStateSecretName(<certificate Secret>), label
//     ACMEStateLabel: "true", type Opaque, data[ACMEStateKey] = the JSON of an
//     ACMEState: the order's phase for the listener conditions and the
//     challenge material the data plane must serve (HTTP-01 tokens, TLS-ALPN-01
//     certificates).
//
// In Kubernetes the leader writes them to the API server and every replica
// reads them back through its cache, so every replica serves the same
// challenges to its data planes. In standalone mode they are files in the
// state directory that the standalone source adds to each Snapshot. Either
// way the translation reads them from Snapshot.Secrets, and stays a pure
// function of the Snapshot.

import (
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

const (
	// ACMEStateLabel marks a state Secret (value "true").
	ACMEStateLabel = "gateway.edgeway.dev/acme-state"
	// ACMEStateKey is the data key of the ACMEState JSON in a state Secret.
	ACMEStateKey = "state.json"
	// ACMEIssuerAnnotation on a certificate Secret: "<namespace>/<name>" of
	// the ACMEIssuer that issued it. The manager only ever overwrites a
	// certificate Secret that carries it (or that does not exist yet).
	ACMEIssuerAnnotation = "gateway.edgeway.dev/acme-issuer"
	// ACMEDomainsAnnotation on a certificate Secret: the certificate's
	// hostnames, comma-separated, sorted.
	ACMEDomainsAnnotation = "gateway.edgeway.dev/acme-domains"
	// ACMECertificateReady is the listener condition type that reports the
	// ACME order of the listener's certificate.
	ACMECertificateReady = "gateway.edgeway.dev/CertificateReady"
)

// ACMEStateSecretName is the name of the state Secret of a certificate Secret.
func ACMEStateSecretName(certificateSecret string) string {
	return certificateSecret + "-acme-state"
}

// ACMEPhase is where an order stands.
type ACMEPhase string

const (
	// ACMEPending: no certificate yet, or one being ordered right now.
	ACMEPending ACMEPhase = "Pending"
	// ACMEReady: a valid certificate covering Domains is in the Secret.
	ACMEReady ACMEPhase = "Ready"
	// ACMEFailed: the last attempt failed; NextAttempt says when the next
	// one is. A certificate from an earlier success may still be served.
	ACMEFailed ACMEPhase = "Failed"
)

// ACMEState is what the ACME manager reports about one certificate Secret.
// Times are UTC, to the second, so the JSON is deterministic.
type ACMEState struct {
	// Issuer is "<namespace>/<name>" of the ACMEIssuer.
	Issuer string `json:"issuer"`
	// Domains of the order (sorted).
	Domains []string  `json:"domains"`
	Phase   ACMEPhase `json:"phase"`
	// Reason is CamelCase: Issued, Renewed, Ordering, ChallengeFailed,
	// RateLimited, AccountFailed, SecretNotManaged, InvalidIssuer, ...
	Reason string `json:"reason"`
	// Message is for humans: what happened, and what to do.
	Message string `json:"message"`
	// Failures counts consecutive failed attempts (0 after a success).
	Failures int `json:"failures,omitempty"`
	// NextAttempt is when a failed order is retried.
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	// NotAfter / RenewAt of the certificate in the Secret, when there is one.
	NotAfter *time.Time `json:"notAfter,omitempty"`
	RenewAt  *time.Time `json:"renewAt,omitempty"`

	// HTTP01 challenges being validated right now: the data plane answers
	// GET /.well-known/acme-challenge/<Token> for Host Domain with
	// KeyAuthorization on every plain HTTP listener of the Gateways that
	// declare Domain.
	HTTP01 []ACMEHTTP01Challenge `json:"http01,omitempty"`
	// TLSALPN01 challenges being validated right now: the data plane
	// presents Certificate for SNI Domain with ALPN acme-tls/1 on the
	// listeners that declare Domain.
	TLSALPN01 []ACMETLSALPN01Challenge `json:"tlsALPN01,omitempty"`
}

// ACMEHTTP01Challenge is one HTTP-01 token (RFC 8555 section 8.3).
type ACMEHTTP01Challenge struct {
	Domain           string `json:"domain"`
	Token            string `json:"token"`
	KeyAuthorization string `json:"keyAuthorization"`
}

// ACMETLSALPN01Challenge is one TLS-ALPN-01 certificate (RFC 8737), PEM.
type ACMETLSALPN01Challenge struct {
	Domain      string `json:"domain"`
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"privateKey"`
}

// DecodeACMEState reads the state of a state Secret.
func DecodeACMEState(s *corev1.Secret) (*ACMEState, error) {
	raw, ok := s.Data[ACMEStateKey]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s: no %q key", s.Namespace, s.Name, ACMEStateKey)
	}
	var st ACMEState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %s: %w", s.Namespace, s.Name, ACMEStateKey, err)
	}
	return &st, nil
}

// EncodeACMEState is the state Secret of the certificate Secret cert.
func EncodeACMEState(cert types.NamespacedName, st *ACMEState) (*corev1.Secret, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{ACMEStateKey: raw},
	}
	s.APIVersion, s.Kind = "v1", "Secret"
	s.Namespace, s.Name = cert.Namespace, ACMEStateSecretName(cert.Name)
	s.Labels = map[string]string{ACMEStateLabel: "true"}
	return s, nil
}

// ACMECertificate is one certificate the ACME manager must keep valid,
// computed from a Snapshot by gatewayapi.ACMECertificates: every Gateway
// listener with tls.options[v1alpha1.ACMEListenerOption], grouped by the
// Secret its certificateRefs[0] names.
type ACMECertificate struct {
	// Secret is where the certificate lands.
	Secret types.NamespacedName
	// Issuer is the ACMEIssuer the listeners name (deep copy).
	Issuer *v1alpha1.ACMEIssuer
	// Domains are the listeners' hostnames, sorted, unique. Never empty;
	// a wildcard only with Issuer challenge DNS01.
	Domains []string
	// Gateways are "<namespace>/<name>" of the Gateways whose listeners
	// want this certificate, sorted (events and logs).
	Gateways []string
	// HTTP01Addresses / TLSALPN01Addresses are "host:port" where the
	// Gateways serve the challenges, for the manager's self-check before it
	// asks the CA to validate: plain HTTP listeners / the ACME listeners.
	// From the bound address in standalone mode (0.0.0.0 read as
	// 127.0.0.1), from Gateway status.addresses in Kubernetes. May be
	// empty (no self-check).
	HTTP01Addresses    []string
	TLSALPN01Addresses []string

	// What the issuer refers to, resolved from the Snapshot:
	// EABKey is the externalAccountBinding HMAC key as stored.
	EABKey string
	// CABundle is the PEM of caBundleRef.
	CABundle []byte
	// DNSCredentials are the data of dns01.credentialsSecretRef.
	DNSCredentials map[string]string
}
