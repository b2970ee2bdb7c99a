// Package status writes the statuses a translation computed into the live
// Kubernetes objects: GatewayClasses, Gateways, routes and BackendTLSPolicy
// ancestors. It runs on the elected leader only, touches only the entries
// whose controllerName is ours (other controllers' RouteParentStatus and
// PolicyAncestorStatus entries are kept as they are), stamps a real
// lastTransitionTime only when a condition's status changes, patches the
// status subresource with optimistic locking (re-read and retry on
// conflict), and skips the write when nothing changed.
//
// Programmed on a Gateway is True only once a data plane of that Gateway
// (xDS node "<ns>/<name>") has ACKed the published configuration, and the
// infrastructure (see Infrastructure) reports no problem.
package status
