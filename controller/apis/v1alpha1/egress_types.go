package v1alpha1

// EgressConfig makes a Gateway an egress gateway: the gateway mesh
// workloads send their outbound traffic to, which lets through only the
// hosts that ServiceEntries declare (Istio's REGISTRY_ONLY). Set it in the
// Gateway's EdgewayConfig (spec.infrastructure.parametersRef), or in its
// GatewayClass's to make every Gateway of the class an egress gateway:
//
//	spec:
//	  egress: {}                   # or {mode: RegistryOnly}
//
// On an egress Gateway, the allow-list is the set of hosts of the
// ServiceEntries exported to the Gateway's namespace (exportTo empty, "*",
// "." from the Gateway's own namespace, or naming it). HTTP listeners route
// each declared host by its Host header to the ServiceEntry port numbered
// like the listener (else its first HTTP, HTTP2 or GRPC port); TLS
// listeners in Passthrough mode route by SNI to the port numbered like the
// listener (else its first TLS or HTTPS port). A BackendTLSPolicy targeting
// the ServiceEntry originates TLS to it (plain HTTP in, HTTPS out).
// Everything else is refused: HTTP 403, TLS closed before the handshake.
// Give egress listeners no hostname (a listener hostname narrows the
// allow-list, and hosts outside it are not even routed: 404, or no TLS
// chain) and ports of their own. HTTPS (Terminate) and TCP listeners get
// no declared hosts: they serve only the routes attached to them.
type EgressConfig struct {
	// Mode is what the egress gateway lets through. RegistryOnly, the only
	// mode and the default: hosts declared by a visible ServiceEntry.
	// +optional
	// +kubebuilder:validation:Enum=RegistryOnly
	Mode EgressMode `json:"mode,omitempty"`
}

// EgressMode is an egress gateway's policy for undeclared hosts.
type EgressMode string

// EgressRegistryOnly refuses every host no visible ServiceEntry declares.
const EgressRegistryOnly EgressMode = "RegistryOnly"
