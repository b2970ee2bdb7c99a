// Package run is the data plane as a program: its flags, logging, admin
// server (/healthz, /ready, /metrics), readiness, operations options
// (access log, xDS protocol), xDS client credentials and the SIGTERM drain.
//
// Both `edgeway dataplane` and the data-plane-only binary
// cmd/edgeway-dataplane call Dataplane, so the two have one implementation
// and the same flags; `edgeway standalone` and `edgeway controller` use its
// logging and operations flags. It imports nothing of controller/: the
// data-plane-only binary links no Kubernetes client, CEL, ACME or cloud SDK
// (cmd/edgeway-dataplane's TestDependencies holds that).
package run
