package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultLeafValidity is the lifetime of the xDS serving certificate and of
// each Gateway's client certificate; both are renewed after two thirds.
const DefaultLeafValidity = 7 * 24 * time.Hour

// ServiceDNSNames are the names a client may use for the Service svc in
// namespace ns: the serving certificate carries all of them.
func ServiceDNSNames(svc, ns, clusterDomain string) []string {
	names := []string{svc, svc + "." + ns, svc + "." + ns + ".svc"}
	if clusterDomain != "" {
		names = append(names, svc+"."+ns+".svc."+clusterDomain)
	}
	return names
}

// ServingSource gives the xDS server its certificate and the CAs it trusts
// for client certificates, both following the current State: each replica
// issues its own serving certificate from the Active CA, in memory (the key
// never leaves the process), and issues a new one when the Active CA
// changes or the old one is two thirds through its life.
type ServingSource struct {
	state    func() *State
	req      LeafRequest
	validity time.Duration
	now      func() time.Time

	mu     sync.Mutex
	leaf   *tls.Certificate
	issuer *x509.Certificate
}

// NewServingSource serves a certificate for dnsNames issued from state()'s
// Active CA. validity 0 means DefaultLeafValidity.
func NewServingSource(state func() *State, dnsNames []string, validity time.Duration) *ServingSource {
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	cn := "edgeway xDS server"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return &ServingSource{state: state, validity: validity, now: time.Now,
		req: LeafRequest{CommonName: cn, DNSNames: dnsNames, Server: true}}
}

// GetCertificate is tls.Config.GetCertificate.
func (s *ServingSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := s.state()
	if st == nil {
		return nil, errors.New("xds CA not loaded yet")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.leaf != nil && s.issuer.Equal(st.Active.Cert) && now.Before(RenewAt(s.leaf.Leaf)) {
		return s.leaf, nil
	}
	leaf, err := st.Active.Issue(s.req, now, s.validity)
	if err != nil {
		return nil, fmt.Errorf("issuing the xDS serving certificate: %w", err)
	}
	c, err := leaf.TLSCertificate()
	if err != nil {
		return nil, err
	}
	// The chain carries the issuing CA so that a client holding a bundle
	// with several CAs needs nothing else.
	c.Certificate = append(c.Certificate, st.Active.Cert.Raw)
	s.leaf, s.issuer = c, st.Active.Cert
	return c, nil
}

// ClientCAs is the pool client certificates are verified against.
func (s *ServingSource) ClientCAs() *x509.CertPool {
	st := s.state()
	if st == nil {
		return x509.NewCertPool() // nothing verifies until the CA is loaded
	}
	return st.Pool()
}
