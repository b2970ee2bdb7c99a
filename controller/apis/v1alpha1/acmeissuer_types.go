package v1alpha1

// The shape of the CRD:
//
//	apiVersion: gateway.edgeway.dev/v1alpha1
//	kind: ACMEIssuer                  # namespaced; plural acmeissuers
//	metadata: {namespace: <the Gateway's namespace>, name: letsencrypt}
//	spec:
//	  directoryURL: https://acme-v02.api.letsencrypt.org/directory
//	  email: ops@example.com          # optional: the account contact
//	  termsOfServiceAgreed: true      # required by most CAs
//	  externalAccountBinding:         # optional (ZeroSSL, Google, ...)
//	    keyID: kid-1
//	    keySecretRef: {name: eab, key: secret}   # base64url HMAC key, as the CA shows it
//	  caBundleRef: {kind: ConfigMap, name: pebble-ca, key: ca.crt}   # optional: trust for the directory (private CA, Pebble)
//	  challenge: HTTP01               # HTTP01 (default) | TLSALPN01 | DNS01
//	  dns01:                          # only with challenge DNS01
//	    provider: cloudflare          # a lego provider name
//	    credentialsSecretRef: {name: cloudflare}   # each key is one of the provider's lego environment variables
//	    nameservers: ["1.1.1.1:53"]   # optional: recursive resolvers for the propagation check
//	  keyType: EC256                  # EC256 (default) | EC384 | RSA2048 | RSA4096
//	  profile: shortlived             # optional: an ACME profile the CA offers
//	  retry: {initialBackoff: 1m, maxBackoff: 1h}   # optional (these are the defaults)
//
// A Gateway listener asks for a certificate with
//
//	tls:
//	  mode: Terminate
//	  certificateRefs: [{name: app-tls}]   # where the certificate lands
//	  options:
//	    gateway.edgeway.dev/acme-issuer: letsencrypt   # an ACMEIssuer in the Gateway's namespace

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ACMEListenerOption is the key of a Gateway listener's tls.options that
// names the ACMEIssuer (in the Gateway's namespace) which obtains and renews
// the listener's certificate.
const ACMEListenerOption = "gateway.edgeway.dev/acme-issuer"

// KindACMEIssuer is the kind of ACMEIssuer.
const KindACMEIssuer = "ACMEIssuer"

// ACMEIssuer is an ACME certificate authority account that edgeway uses to
// obtain and renew the certificates of Gateway listeners that name it in
// tls.options (gateway.edgeway.dev/acme-issuer). Only hostnames a listener
// declares are ever ordered.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=gateway-api;edgeway
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.spec.directoryURL`
// +kubebuilder:printcolumn:name="Challenge",type=string,JSONPath=`.spec.challenge`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ACMEIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ACMEIssuerSpec `json:"spec"`
}

// ACMEChallengeType is how the CA validates control of a hostname.
type ACMEChallengeType string

const (
	// ACMEChallengeHTTP01: the CA fetches
	// http://<host>/.well-known/acme-challenge/<token> from the Gateway's own
	// HTTP listener (port 80 for a public CA).
	ACMEChallengeHTTP01 ACMEChallengeType = "HTTP01"
	// ACMEChallengeTLSALPN01: the CA connects to the listener itself (port 443
	// for a public CA) with ALPN acme-tls/1 (RFC 8737).
	ACMEChallengeTLSALPN01 ACMEChallengeType = "TLSALPN01"
	// ACMEChallengeDNS01: a TXT record through a lego DNS provider; the only
	// type that can issue wildcard hostnames.
	ACMEChallengeDNS01 ACMEChallengeType = "DNS01"
)

// ACMEKeyType is the key type of the certificates ordered.
type ACMEKeyType string

const (
	ACMEKeyEC256   ACMEKeyType = "EC256"
	ACMEKeyEC384   ACMEKeyType = "EC384"
	ACMEKeyRSA2048 ACMEKeyType = "RSA2048"
	ACMEKeyRSA4096 ACMEKeyType = "RSA4096"
)

// ACMEIssuerSpec is the CA, the account and how challenges are answered.
type ACMEIssuerSpec struct {
	// DirectoryURL is the ACME directory of the CA.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://`
	DirectoryURL string `json:"directoryURL"`

	// Email is the account's contact address.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Email string `json:"email,omitempty"`

	// TermsOfServiceAgreed agrees to the CA's terms of service when the
	// account is registered.
	// +optional
	TermsOfServiceAgreed bool `json:"termsOfServiceAgreed,omitempty"`

	// ExternalAccountBinding binds the account to an account the user has
	// with the CA (required by some CAs).
	// +optional
	ExternalAccountBinding *ACMEExternalAccountBinding `json:"externalAccountBinding,omitempty"`

	// CABundleRef is a PEM bundle (ConfigMap or Secret in the issuer's
	// namespace) the directory's HTTPS certificate is verified with, in
	// addition to the system roots: for a private CA.
	// +optional
	CABundleRef *ACMEKeyRef `json:"caBundleRef,omitempty"`

	// Challenge is the validation method; HTTP01 when unset.
	// +optional
	// +kubebuilder:validation:Enum=HTTP01;TLSALPN01;DNS01
	Challenge ACMEChallengeType `json:"challenge,omitempty"`

	// DNS01 configures the DNS provider; required when Challenge is DNS01.
	// +optional
	DNS01 *ACMEDNS01 `json:"dns01,omitempty"`

	// KeyType of the certificates' private keys; EC256 when unset.
	// +optional
	// +kubebuilder:validation:Enum=EC256;EC384;RSA2048;RSA4096
	KeyType ACMEKeyType `json:"keyType,omitempty"`

	// Profile is an ACME certificate profile the CA advertises in its
	// directory (draft-aaron-acme-profiles), e.g. "shortlived".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Profile string `json:"profile,omitempty"`

	// Retry is how failed orders back off.
	// +optional
	Retry *ACMERetry `json:"retry,omitempty"`
}

// ACMEExternalAccountBinding is RFC 8555 section 7.3.4.
type ACMEExternalAccountBinding struct {
	// KeyID the CA gave the user.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	KeyID string `json:"keyID"`
	// KeySecretRef is the HMAC key (base64url, as the CA shows it) in a
	// Secret of the issuer's namespace; Kind must be Secret.
	KeySecretRef ACMEKeyRef `json:"keySecretRef"`
}

// ACMEKeyRef names one key of a ConfigMap or Secret in the issuer's namespace.
type ACMEKeyRef struct {
	// Kind is Secret (default) or ConfigMap.
	// +optional
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	Kind string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ACMEDNS01 answers DNS-01 challenges with one of lego's DNS providers.
type ACMEDNS01 struct {
	// Provider is a lego DNS provider name (https://go-acme.github.io/lego/dns/),
	// e.g. cloudflare, route53, rfc2136, httpreq.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Provider string `json:"provider"`
	// CredentialsSecretRef is a Secret in the issuer's namespace whose keys
	// are the provider's lego environment variable names (CF_DNS_API_TOKEN,
	// AWS_ACCESS_KEY_ID, ...) and whose values are theirs. The controller's
	// own environment is never read for them.
	// +optional
	CredentialsSecretRef *ACMESecretRef `json:"credentialsSecretRef,omitempty"`
	// Nameservers ("host:port") are recursive resolvers used to check that
	// the TXT record has propagated; the system resolvers when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Nameservers []string `json:"nameservers,omitempty"`
	// PropagationTimeout bounds the wait for the TXT record; 2m when unset.
	// +optional
	PropagationTimeout *metav1.Duration `json:"propagationTimeout,omitempty"`
}

// ACMESecretRef names a Secret in the issuer's namespace.
type ACMESecretRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ACMERetry is exponential backoff after a failed order: InitialBackoff,
// doubling up to MaxBackoff. A CA's rate limit (Retry-After) always wins.
type ACMERetry struct {
	// InitialBackoff; 1m when unset.
	// +optional
	InitialBackoff *metav1.Duration `json:"initialBackoff,omitempty"`
	// MaxBackoff; 1h when unset.
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
}

// ACMEIssuerList is a list of ACMEIssuer.
//
// +kubebuilder:object:root=true
type ACMEIssuerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ACMEIssuer `json:"items"`
}
