package meshpeer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"github.com/edgeway/edgeway/certs/mesh"
)

// Istiod is a stand-in for istiod's CA: a real gRPC server, over TLS
// with a certificate from the mesh CA (IP SAN 127.0.0.1), that implements
// istio.v1.auth.IstioCertificateService/CreateCertificate the way Istio
// does: the caller's identity comes from its bearer token (Tokens stands
// in for Kubernetes' TokenReview), never from the CSR, and the certificate
// is signed for that identity with the CSR's key.
type Istiod struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	Addr string
	// Calls counts CreateCertificate requests; Refused those refused.
	Calls, Refused atomic.Int64

	ca     *mesh.CA
	tokens map[string]*url.URL
	srv    *grpc.Server
}

// StartIstiod serves on loopback; tokens maps each accepted bearer token
// to the SPIFFE ID it authenticates.
func StartIstiod(cacerts map[string][]byte, tokens map[string]*url.URL) (*Istiod, error) {
	ca, err := mesh.ParseCACerts(cacerts)
	if err != nil {
		return nil, err
	}
	cert, err := servingCert(ca)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &Istiod{Addr: ln.Addr().String(), ca: ca, tokens: tokens}
	d.srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	securityv1alpha1.RegisterIstioCertificateServiceServer(d.srv, d)
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// Close stops the server.
func (d *Istiod) Close() { d.srv.Stop() }

// CreateCertificate implements the service.
func (d *Istiod) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	d.Calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	var id *url.URL
	for _, a := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(a, "Bearer "); ok {
			id = d.tokens[tok]
		}
	}
	if id == nil {
		d.Refused.Add(1)
		return nil, status.Error(codes.Unauthenticated, "authenticate: no valid bearer token")
	}
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil {
		d.Refused.Add(1)
		return nil, status.Error(codes.InvalidArgument, "csr: no PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		d.Refused.Add(1)
		return nil, status.Errorf(codes.InvalidArgument, "csr: %v", err)
	}
	validity := time.Duration(req.GetValidityDuration()) * time.Second
	if validity <= 0 || validity > 24*time.Hour {
		validity = 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, URIs: []*url.URL{id}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.ca.Cert, csr.PublicKey, d.ca.Key)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign: %v", err)
	}
	chain := []string{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	for _, c := range d.ca.Chain {
		chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	if last := d.ca.Chain[len(d.ca.Chain)-1]; !last.Equal(d.ca.Roots[0]) {
		chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.ca.Roots[0].Raw})))
	}
	return &securityv1alpha1.IstioCertificateResponse{CertChain: chain}, nil
}

func servingCert(ca *mesh.CA) (tls.Certificate, error) {
	w, err := ca.Issue(mesh.SPIFFEID("cluster.local", "istio-system", "istiod"), time.Now(), 24*time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := tls.X509KeyPair(w.ChainPEM, w.KeyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	// Re-sign the same key with an IP SAN: the client verifies 127.0.0.1.
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"istiod.istio-system.svc"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, w.Cert.PublicKey, ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("istiod serving certificate: %w", err)
	}
	out := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key.PrivateKey}
	for _, c := range ca.Chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

func serial() *big.Int {
	s, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return s.Add(s, big.NewInt(1))
}
