package infra

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/xds"
)

// Keys of a Gateway's xDS Secret, mounted at certDir in the data plane.
const (
	keyCert = corev1.TLSCertKey       // the data plane's client certificate
	keyKey  = corev1.TLSPrivateKeyKey // its key
	keyCA   = "ca.crt"                // the CA bundle that verifies the xDS server
)

// credentials is the data of gw's xDS Secret: the current certificate and
// key when they are still good (right identity, verify against the trusted
// CAs, not yet two thirds through their life), a new pair otherwise; and
// always the current CA bundle. why says what changed ("" for nothing);
// renewAt is when the certificate must be replaced.
func credentials(existing map[string][]byte, st *ca.State, gw *gwv1.Gateway, now time.Time, validity time.Duration) (data map[string][]byte, renewAt time.Time, why string, err error) {
	bundle := st.BundlePEM()
	leaf, reason := usableLeaf(existing, st, gw, now)
	if leaf != nil {
		data = map[string][]byte{keyCert: existing[keyCert], keyKey: existing[keyKey], keyCA: bundle}
		if !bytes.Equal(existing[keyCA], bundle) {
			why = "CA bundle changed"
		}
		return data, ca.RenewAt(leaf), why, nil
	}
	issued, err := st.Active.Issue(ca.LeafRequest{
		CommonName: xds.GatewayNodeID(gw.Namespace, gw.Name),
		URIs:       []*url.URL{xds.GatewayIdentity(gw.Namespace, gw.Name)},
	}, now, validity)
	if err != nil {
		return nil, time.Time{}, "", err
	}
	data = map[string][]byte{keyCert: issued.CertPEM, keyKey: issued.KeyPEM, keyCA: bundle}
	return data, ca.RenewAt(issued.Cert), reason, nil
}

// usableLeaf returns the existing certificate if it can stay, else nil and
// why it cannot.
func usableLeaf(existing map[string][]byte, st *ca.State, gw *gwv1.Gateway, now time.Time) (*x509.Certificate, string) {
	if len(existing[keyCert]) == 0 {
		return nil, "issued"
	}
	pair, err := tls.X509KeyPair(existing[keyCert], existing[keyKey])
	if err != nil {
		return nil, "replaced an unusable certificate: " + err.Error()
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, "replaced an unusable certificate: " + err.Error()
	}
	if id, err := xds.NodeIDFromCertificate(leaf); err != nil || id != xds.GatewayNodeID(gw.Namespace, gw.Name) {
		return nil, "replaced a certificate for another identity"
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: st.Pool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, "replaced a certificate the CA no longer vouches for: " + err.Error()
	}
	if !now.Before(ca.RenewAt(leaf)) {
		return nil, "renewed"
	}
	return leaf, ""
}

// renderSecret is the apply configuration of gw's xDS Secret.
func renderSecret(gw *gwv1.Gateway, data map[string][]byte) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(SecretName(gw.Name), gw.Namespace).
		WithLabels(objectLabels(gw)).WithAnnotations(objectAnnotations(gw)).
		WithOwnerReferences(ownerRef(gw)).
		WithType(corev1.SecretTypeTLS).WithData(data)
}
