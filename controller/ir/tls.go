package ir

// ClientValidation is client certificate validation on a terminating chain
// (Gateway API spec.tls.frontend).
type ClientValidation struct {
	// CACertificates is the Name of a Secret in IR.Secrets with TrustedCA set:
	// "cacert/<kind>/<namespace>/<name>" for one reference (kind configmap or
	// secret), several of those joined by "," for several references (their
	// bundles concatenated in reference order).
	CACertificates string `yaml:"caCertificates"`
	// AllowInsecureFallback (Gateway API mode AllowInsecureFallback): a
	// certificate is requested but the connection is accepted without one or
	// with one that fails validation. False: AllowValidOnly, a valid
	// certificate is required.
	AllowInsecureFallback bool `yaml:"allowInsecureFallback,omitempty"`
}

// UpstreamTLS originates TLS towards a cluster's endpoints (BackendTLSPolicy).
type UpstreamTLS struct {
	// SNI is sent in the ClientHello (BackendTLSPolicy validation.hostname).
	SNI string `yaml:"sni"`
	// CACertificates is the Name of a Secret with TrustedCA (validation
	// caCertificateRefs), or "" when SystemCAs is set. Exactly one is set.
	CACertificates string `yaml:"caCertificates,omitempty"`
	// SystemCAs trusts the data plane host's CA certificates
	// (wellKnownCACertificates: System).
	SystemCAs bool `yaml:"systemCAs,omitempty"`
	// SubjectAltNames: the backend certificate must carry one of them. The
	// translator always sets at least one (the hostname when the policy
	// lists no subjectAltNames).
	SubjectAltNames []SubjectAltName `yaml:"subjectAltNames"`
	// ClientCertificate is the Name of a Secret (certificate and key) the
	// data plane presents to the backend (Gateway spec.tls.backend
	// clientCertificateRef); "" presents none.
	ClientCertificate string `yaml:"clientCertificate,omitempty"`
	// ClientCertificateByGateway is set only in an IR translated with
	// Snapshot.IsolateGateways, where a cluster shared by several Gateways
	// presents each Gateway's own client certificate: Gateway
	// "<ns>/<name>" -> Secret Name. SplitByGateway turns it into
	// ClientCertificate; Validate refuses it (a data plane never sees it).
	ClientCertificateByGateway map[string]string `yaml:"clientCertificateByGateway,omitempty"`
	// ClientCertificateRequired (with ClientCertificateByGateway): a
	// Gateway without an entry must not connect at all; SplitByGateway
	// gives it the cluster without endpoints. An Istio sidecar in STRICT
	// mode refuses a client without the mesh certificate anyway; this makes
	// it a clear 503 at the gateway.
	ClientCertificateRequired bool `yaml:"clientCertificateRequired,omitempty"`
	// ALPN are the protocols offered in the ClientHello, in order; none:
	// the data plane's default for the cluster's protocol. An Istio
	// sidecar selects its mTLS filter chain by them (see
	// controller/gatewayapi/mesh.go).
	ALPN []string `yaml:"alpn,omitempty"`
}

// SANType is the kind of a subject alternative name.
type SANType string

const (
	SANDNS SANType = "DNS" // a host name, exact ("a.example.com") or wildcard ("*.example.com")
	SANURI SANType = "URI" // e.g. a SPIFFE ID
	// SANURIPrefix: a URI SAN starting with the value, e.g. every SPIFFE
	// identity of a namespace "spiffe://cluster.local/ns/shop/sa/".
	SANURIPrefix SANType = "URIPrefix"
)

// SubjectAltName is one acceptable subject alternative name, compared
// exactly (SANURIPrefix: by prefix).
type SubjectAltName struct {
	Type  SANType `yaml:"type"`
	Value string  `yaml:"value"`
}

// UDPChain forwards datagrams: each new client session (source address and
// port) goes to one of the weighted backends, chosen by weight.
type UDPChain struct {
	// Backends, in route order. A weight of 0 never receives traffic.
	Backends []WeightedCluster `yaml:"backends"`
}
