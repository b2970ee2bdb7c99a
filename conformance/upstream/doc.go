// Package upstream runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance, the version pinned in go.mod) against
// edgeway installed with its Helm chart in the local cluster
// (conformance/cluster), and writes the official ConformanceReport plus a
// one-line summary per profile under conformance/reports/<suite version>/.
//
//	make conformance                     # a fresh local cluster, the whole run
//	make cluster-up                      # or keep a cluster, then run against it:
//	EDGEWAY_KUBECONFIG=.cache/cluster/kubeconfig go test ./conformance/upstream \
//	    -run TestConformance -timeout 80m -v -args -run-test HTTPRouteSimpleSameNamespace
//
// Every flag of the upstream suite (-gateway-class, -conformance-profiles,
// -supported-features, -skip-tests, -run-test, -report-output, -debug, ...)
// is accepted after -args and wins over edgeway's defaults (defaults.go).
// The features claimed are not listed here: the suite reads them from the
// GatewayClass status.supportedFeatures the controller publishes
// (controller/gatewayapi/features.go), so the report states what the
// running controller claims. Except with -run-test: the suite then reads no
// features at all and runs the one test whatever it needs, so a test that
// branches on a feature (TLSRouteListenerMixedTerminationNotSupported
// returns at once when TLSRouteModeMixed is claimed) must get the claimed
// ones with -supported-features, e.g.
// -supported-features Gateway,TLSRoute,TLSRouteModeTerminate,TLSRouteModeMixed.
package upstream
