// Package acme obtains and renews Gateway listener certificates from an ACME
// CA with lego (github.com/go-acme/lego/v4), answering HTTP-01, TLS-ALPN-01
// and DNS-01 challenges. Its input is the []snapshot.ACMECertificate that
// gatewayapi.ACMECertificates computes from each Snapshot; its whole output
// is Secrets written through a Store (see controller/snapshot/acme.go): the
// certificate Secrets, one state Secret per certificate (phase, conditions,
// challenge material the data plane serves) and one account Secret per
// issuer account.
package acme

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrNotManaged is returned by Store.Put when a certificate Secret exists
// that the ACME manager did not write (no snapshot.ACMEIssuerAnnotation):
// it is never overwritten.
var ErrNotManaged = errors.New("secret exists and is not managed by edgeway ACME")

// Store persists Secrets: the API server in Kubernetes (KubeStore, leader
// only), files in a state directory in standalone mode (FileStore).
type Store interface {
	// Get returns the Secret, or nil and no error when it does not exist.
	Get(ctx context.Context, ref types.NamespacedName) (*corev1.Secret, error)
	// Put creates or replaces the Secret (namespace, name, type, labels,
	// annotations, data). A certificate Secret (type kubernetes.io/tls) that
	// exists without snapshot.ACMEIssuerAnnotation is refused with
	// ErrNotManaged. Put returns once the write is durable; the Secret then
	// reaches every Snapshot taken afterwards.
	Put(ctx context.Context, s *corev1.Secret) error
}
