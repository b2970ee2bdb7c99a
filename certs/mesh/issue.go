package mesh

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// clockSkew backdates a workload certificate so that a sidecar whose clock
// is a little behind accepts it (as controller/ca does).
const clockSkew = 5 * time.Minute

// Workload is an issued workload certificate.
type Workload struct {
	ID       *url.URL
	Cert     *x509.Certificate
	ChainPEM []byte // the leaf, then the CA's chain: tls.crt
	KeyPEM   []byte
	RootPEM  []byte // the mesh root: ca.crt
	// Issued is when it was made; RenewAt after two thirds of the lifetime
	// counted from then (the backdating is not lifetime).
	Issued, RenewAt time.Time
}

// Issue signs a new ECDSA P-256 key for id, as Istio's CA signs workload
// certificates: no subject, the SPIFFE ID as the only (critical) SAN,
// usable as client and server, valid for validity but never beyond the CA.
func (ca *CA) Issue(id *url.URL, now time.Time, validity time.Duration) (*Workload, error) {
	if id == nil || id.Scheme != "spiffe" {
		return nil, errors.New("mesh: the identity must be a spiffe:// URI")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mesh: generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("mesh: serial: %w", err)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("mesh: signing %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("mesh: parsing issued certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("mesh: encoding key: %w", err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for _, c := range ca.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return &Workload{
		ID: id, Cert: cert, ChainPEM: chain,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		RootPEM: ca.RootPEM,
		Issued:  now, RenewAt: now.Add(notAfter.Sub(now) * 2 / 3),
	}, nil
}
