// Package mesh gives Gateways an Istio workload identity, so that the data
// plane originates the mutual TLS an Istio sidecar in STRICT mode accepts,
// without an istio-proxy container.
//
// The identity is spiffe://<trust domain>/ns/<gateway namespace>/sa/<service
// account>, signed by the mesh CA the user provides as an Istio "cacerts"
// Secret (EdgewayConfig spec.mesh.caSecretRef). The Manager issues one
// workload certificate per Gateway, keeps it in memory (the key never
// reaches the API server or the disk) and lays it over every Snapshot as a
// kubernetes.io/tls Secret named SecretName(gateway) in the Gateway's
// namespace; the translation (controller/gatewayapi/mesh*.go) hands it to
// the data plane over SDS like any certificate. A certificate is replaced
// after two thirds of its lifetime (the same rule as controller/ca): the
// Manager re-publishes, the data plane gets a new SDS secret and a new
// upstream pool, connections already open finish on the old certificate.
//
// cacerts.go and issue.go are pure crypto; config.go resolves a Gateway's
// effective spec.mesh from a Snapshot; manager.go is the only stateful part.
package mesh
