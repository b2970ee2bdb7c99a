package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// IstioCA is Istio's CA signing API, istio.v1.auth.IstioCertificateService
// (istiod, usually istiod.istio-system.svc:15012), as an Istio agent uses
// it: a CSR for the workload's SPIFFE ID over TLS that trusts the mesh
// root, authenticated with the ServiceAccount token of that identity (the
// CA signs for the token's service account, whatever the CSR asks).
type IstioCA struct {
	Address string // host:port
	// RootPEM is the mesh root (Istio's istio-ca-root-cert ConfigMap,
	// root-cert.pem): trusted for istiod's serving certificate and for the
	// issued chain.
	RootPEM []byte
	// Token is a ServiceAccount token of the identity (audience istio-ca).
	Token string
	// ClusterID is the "ClusterID" request metadata Istio's multi-cluster
	// CA uses to pick the token reviewer; "" sends none (istiod's own
	// cluster).
	ClusterID string
}

// Issue asks the CA for a certificate for id, valid for validity.
func (c *IstioCA) Issue(ctx context.Context, id *url.URL, now time.Time, validity time.Duration) (*Workload, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.RootPEM) {
		return nil, errors.New("mesh: Istio CA: the root certificate (root-cert.pem) holds no PEM certificate")
	}
	if c.Token == "" {
		return nil, errors.New("mesh: Istio CA: no ServiceAccount token")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mesh: generating key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id}}, key)
	if err != nil {
		return nil, fmt.Errorf("mesh: certificate request: %w", err)
	}
	host := c.Address
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: strings.Trim(host, "[]")})
	conn, err := grpc.NewClient(c.Address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("mesh: Istio CA %s: %w", c.Address, err)
	}
	defer conn.Close()
	md := metadata.Pairs("authorization", "Bearer "+c.Token)
	if c.ClusterID != "" {
		md.Append("ClusterID", c.ClusterID)
	}
	resp, err := securityv1alpha1.NewIstioCertificateServiceClient(conn).CreateCertificate(metadata.NewOutgoingContext(ctx, md),
		&securityv1alpha1.IstioCertificateRequest{
			Csr:              string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
			ValidityDuration: int64(validity / time.Second),
		})
	if err != nil {
		return nil, fmt.Errorf("mesh: Istio CA %s: CreateCertificate: %w", c.Address, err)
	}
	return c.workload(resp.GetCertChain(), key, id, roots, now)
}

// workload checks the chain the CA returned (leaf first, root last): the
// leaf holds our key and id and verifies against the mesh root.
func (c *IstioCA) workload(chain []string, key *ecdsa.PrivateKey, id *url.URL, roots *x509.CertPool, now time.Time) (*Workload, error) {
	var certs []*x509.Certificate
	for _, p := range chain {
		cs, err := parseCerts([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("mesh: Istio CA returned an unreadable chain: %w", err)
		}
		certs = append(certs, cs...)
	}
	if len(certs) == 0 {
		return nil, errors.New("mesh: Istio CA returned no certificate")
	}
	leaf := certs[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("mesh: Istio CA returned a certificate for another key")
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String() {
		return nil, fmt.Errorf("mesh: Istio CA signed %v, not %s: the token belongs to another service account", leaf.URIs, id)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("mesh: the certificate from the Istio CA does not verify against the mesh root: %w", err)
	}
	var chainPEM []byte
	for i, ce := range certs {
		if i > 0 && i == len(certs)-1 && ce.CheckSignatureFrom(ce) == nil {
			break // the root: peers have it
		}
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ce.Raw})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	issued := leaf.NotBefore
	if now.After(issued) && now.Before(leaf.NotAfter) {
		issued = now
	}
	return &Workload{ID: id, Cert: leaf, ChainPEM: chainPEM, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		RootPEM: c.RootPEM, Issued: issued, RenewAt: issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3)}, nil
}
