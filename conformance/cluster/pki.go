package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// The cluster's PKI, made fresh by every Start (a cluster lives for a test
// run or a developer session, and its kubeconfig is rewritten each time).
// ECDSA P-256 throughout: kube-apiserver, kube-controller-manager and
// client-go accept it, and its keys are made in microseconds where RSA's
// take tens of milliseconds.

// pkiDir is the PKI's directory under Config.Dir.
const pkiDir = "pki"

// certValidity covers any cluster's life; nothing here is renewed.
const certValidity = 365 * 24 * time.Hour

// serviceAccountIssuer is the issuer of service account tokens, the one a
// kubeadm cluster uses, and the default API audience.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// pki holds the paths of the files the control plane reads, and the PEM of
// what the REST config embeds.
type pki struct {
	dir string

	caCert, caKey         string // the cluster CA: signs every certificate below, verified by clients and the API server
	apiserverCert         string // kube-apiserver's serving certificate
	apiserverKey          string
	saKey, saPub          string // service account token signing key and its public half
	controllerManagerCert string // kube-controller-manager's client certificate (system:kube-controller-manager)
	controllerManagerKey  string

	caPEM                  []byte
	adminCertPEM, adminKey []byte // the admin client (O=system:masters), embedded in the kubeconfig
}

// certAuthority is a CA that can sign.
type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// makePKI writes the cluster's CA, the API server's serving certificate for
// every name and address clients use, the service account key pair and the
// client certificates into dir/pki.
func makePKI(dir string, gateway, kubernetesIP netip.Addr) (*pki, error) {
	p := &pki{dir: filepath.Join(dir, pkiDir)}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: pki: %w", err)
	}
	path := func(name string) string { return filepath.Join(p.dir, name) }
	p.caCert, p.caKey = path("ca.crt"), path("ca.key")
	p.apiserverCert, p.apiserverKey = path("apiserver.crt"), path("apiserver.key")
	p.saKey, p.saPub = path("sa.key"), path("sa.pub")
	p.controllerManagerCert, p.controllerManagerKey = path("controller-manager.crt"), path("controller-manager.key")

	ca, caPEM, caKeyPEM, err := newCA()
	if err != nil {
		return nil, err
	}
	p.caPEM = caPEM
	if err := writeFiles(map[string][]byte{p.caCert: caPEM, p.caKey: caKeyPEM}); err != nil {
		return nil, err
	}

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// What clients dial: the gateway (host and pods), the kubernetes
		// Service's ClusterIP (in-cluster clients through the service
		// proxy), its DNS names, and loopback names for completeness.
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{
			net.ParseIP("127.0.0.1"),
			net.IP(gateway.AsSlice()),
			net.IP(kubernetesIP.AsSlice()),
		},
	}
	if err := ca.issueFiles(serving, p.apiserverCert, p.apiserverKey); err != nil {
		return nil, err
	}
	cm := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:kube-controller-manager"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := ca.issueFiles(cm, p.controllerManagerCert, p.controllerManagerKey); err != nil {
		return nil, err
	}
	admin := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "edgeway-cluster-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if p.adminCertPEM, p.adminKey, err = ca.issue(admin); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster: service account key: %w", err)
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, fmt.Errorf("cluster: service account key: %w", err)
	}
	return p, writeFiles(map[string][]byte{
		p.saKey: saKeyPEM,
		p.saPub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	})
}

func newCA() (*certAuthority, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "edgeway-cluster-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if err := fillValidity(tmpl); err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: CA certificate: %w", err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return &certAuthority{cert: cert, key: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// issue signs tmpl with a fresh key and returns certificate and key as PEM.
func (ca *certAuthority) issue(tmpl *x509.Certificate) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: key for %s: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if err := fillValidity(tmpl); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

func (ca *certAuthority) issueFiles(tmpl *x509.Certificate, certPath, keyPath string) error {
	c, k, err := ca.issue(tmpl)
	if err != nil {
		return err
	}
	return writeFiles(map[string][]byte{certPath: c, keyPath: k})
}

func fillValidity(tmpl *x509.Certificate) error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("cluster: serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	// An hour back: a client whose clock is a little behind still accepts it.
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(certValidity)
	return nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// writeFiles writes each file readable by its owner only (they are keys, or
// sit next to them).
func writeFiles(files map[string][]byte) error {
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("cluster: pki: %w", err)
		}
	}
	return nil
}
