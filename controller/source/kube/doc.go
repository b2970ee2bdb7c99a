// Package kube is the Kubernetes source: a controller-runtime manager whose
// informer cache watches every input of the translation; each event only
// marks the world dirty, and a debounced loop (Source.Start) lists the cache
// into a Snapshot, translates it with Gateway isolation, publishes one IR per
// Gateway to the xDS server (node "<ns>/<name>") and hands the result to
// subscribers (the leader's status writer). Every replica runs it.
package kube

const serviceNameLabel = "kubernetes.io/service-name"
