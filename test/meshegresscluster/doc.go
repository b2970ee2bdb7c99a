// Package meshegresscluster proves issue 8's two jobs end to end on the
// local cluster (conformance/cluster: a real kube-apiserver, Pods as local
// processes, LoadBalancer addresses reachable from the host), with edgeway
// installed by its Helm chart (conformance/deploy):
//
//   - mTLS into the mesh: a Gateway whose EdgewayConfig sets spec.mesh
//     (an Istio cacerts-style Secret made by the test) reaches a STRICT
//     sidecar-like backend (test/meshpeer/cmd/meshpeer as a Pod) in a
//     namespace labelled istio-injection=enabled; the backend sees the
//     gateway's SPIFFE identity and Istio's ALPN, and refuses a client
//     without a mesh certificate;
//   - the egress gateway: a Gateway whose EdgewayConfig sets spec.egress
//     lets through the hosts ServiceEntries declare (HTTP by Host, TLS
//     passthrough by SNI, plain HTTP originated as verified TLS) to
//     "external" servers running as Pods, refuses the others (403, no
//     handshake) and counts the refusals;
//   - a ServiceEntry that loses a host to an older one gets the
//     gateway.edgeway.dev/HostConflict condition from the controller.
//
// The test binary doubles as the image of the external TLS servers
// (tlsServerImage, see main_test.go). It needs root, like every test of
// the local cluster, and is skipped under -short.
package meshegresscluster
