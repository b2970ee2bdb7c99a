// Package infra provisions each Gateway's data plane: a Deployment running
// `dataplane` (edgeway-dataplane by default), a Service (LoadBalancer by
// default) with the listener ports, a ServiceAccount, a
// PodDisruptionBudget and the Secret with the data plane's xDS client
// certificate, all owned by the Gateway (garbage-collected with it)
// and written with server-side apply (field manager "edgeway"), so fields
// other managers set survive. It reports each Gateway's addresses to the
// status writer (GatewayAddresses). Only the elected leader provisions.
//
// render*.go are pure (Gateway + config -> objects, golden-tested),
// certs.go decides when a client certificate is (re)issued, provisioner.go
// is the controller-runtime reconciler, addresses.go the status side.
package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// nameSuffix ends the name of every object provisioned for a Gateway.
const nameSuffix = "-edgeway"

// ResourceName is the name of the Deployment, Service, ServiceAccount and
// PodDisruptionBudget of the Gateway named gateway: "<gateway>-edgeway" when that is a valid
// Service name (a DNS-1035 label: at most 63 characters, lower-case
// alphanumerics and '-', starting with a letter). Otherwise (a long name, a
// dot, a leading digit) the name is made valid, cut to fit and followed by
// 8 hex digits of the SHA-256 of the Gateway name, so that it stays unique
// and deterministic: "<prefix>-<hash>-edgeway".
func ResourceName(gateway string) string {
	if name := gateway + nameSuffix; len(validation.IsDNS1035Label(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(gateway))
	suffix := "-" + hex.EncodeToString(sum[:4]) + nameSuffix
	prefix := strings.ReplaceAll(gateway, ".", "-")
	if prefix == "" || prefix[0] < 'a' || prefix[0] > 'z' {
		prefix = "gw-" + prefix
	}
	if max := validation.DNS1035LabelMaxLength - len(suffix); len(prefix) > max {
		prefix = prefix[:max]
	}
	return strings.TrimRight(prefix, "-") + suffix
}

// SecretName is the Secret holding the xDS client certificate of the
// Gateway named gateway (a Secret name may be longer than a Service's).
func SecretName(gateway string) string { return ResourceName(gateway) + "-xds" }

// Labels every provisioned object carries; the first two select the Pods.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelGateway is the Gateway API's label for a Gateway's
	// infrastructure (GEP-1762); set when the name fits in a label value.
	LabelGateway = "gateway.networking.k8s.io/gateway-name"
	// AnnotationGateway names the Gateway ("<namespace>/<name>") whatever
	// its length.
	AnnotationGateway = "gateway.edgeway.dev/gateway"

	appName   = "edgeway-dataplane"
	managedBy = "edgeway"
)

// selectorLabels select a Gateway's data plane Pods. They never change for
// a Gateway (a Deployment's selector is immutable).
func selectorLabels(gateway string) map[string]string {
	return map[string]string{LabelName: appName, LabelInstance: ResourceName(gateway)}
}
