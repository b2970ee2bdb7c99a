package ca

import (
	"crypto/x509"
	"fmt"
	"time"
)

// Policy says how long CAs live and how a rotation proceeds.
type Policy struct {
	// CAValidity is the lifetime of a CA certificate (default 5 years).
	CAValidity time.Duration
	// Propagation is how long a new CA is trusted before it signs anything
	// (default 24h): long enough for every data plane's mounted CA bundle
	// to contain it, so that no peer ever sees a certificate it cannot
	// verify.
	Propagation time.Duration
}

// DefaultPolicy is used for zero fields.
var DefaultPolicy = Policy{CAValidity: 5 * 365 * 24 * time.Hour, Propagation: 24 * time.Hour}

func (p Policy) withDefaults() Policy {
	if p.CAValidity <= 0 {
		p.CAValidity = DefaultPolicy.CAValidity
	}
	if p.Propagation <= 0 {
		p.Propagation = DefaultPolicy.Propagation
	}
	return p
}

// caCommonName names every CA generation the same; serials tell them apart.
const caCommonName = "edgeway xDS CA"

// State is the CA as stored: the Active CA signs; during a rotation Next is
// already trusted but does not sign yet; Previous are older CAs still
// trusted until they expire (leaves they signed may still be in use).
// A State is immutable: Step returns a new one.
type State struct {
	Active   *Authority
	Next     *Authority
	Previous []*x509.Certificate
}

// NewState is a fresh CA.
func NewState(now time.Time, p Policy) (*State, error) {
	p = p.withDefaults()
	a, err := NewAuthority(caCommonName, now, p.CAValidity)
	if err != nil {
		return nil, err
	}
	return &State{Active: a}, nil
}

// Trusted is the CA bundle peers verify against: Active, Next, Previous.
func (s *State) Trusted() []*x509.Certificate {
	out := []*x509.Certificate{s.Active.Cert}
	if s.Next != nil {
		out = append(out, s.Next.Cert)
	}
	return append(out, s.Previous...)
}

// Pool is Trusted as a CertPool.
func (s *State) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range s.Trusted() {
		pool.AddCert(c)
	}
	return pool
}

// BundlePEM is Trusted in PEM, the ca.crt data planes get.
func (s *State) BundlePEM() []byte { return EncodeCertificates(s.Trusted()) }

// Step advances the rotation at now and reports whether anything changed:
//   - the Active CA past two thirds of its life gets a Next CA, trusted at
//     once but signing only after p.Propagation;
//   - a Next CA older than p.Propagation becomes Active, and the old Active
//     joins Previous;
//   - an Active CA that has already expired (the controller was down for
//     its whole last third) is replaced at once: nothing it signed can
//     still be verified, so there is nothing to wait for;
//   - expired Previous CAs are dropped.
func (s *State) Step(now time.Time, p Policy) (*State, bool, error) {
	p = p.withDefaults()
	n := &State{Active: s.Active, Next: s.Next}
	changed := false
	switch {
	case !now.Before(s.Active.Cert.NotAfter):
		a, err := NewAuthority(caCommonName, now, p.CAValidity)
		if err != nil {
			return nil, false, err
		}
		n.Active, n.Next, changed = a, nil, true
	case s.Next != nil && !now.Before(s.Next.Cert.NotBefore.Add(clockSkew+p.Propagation)):
		n.Previous = append(n.Previous, s.Active.Cert)
		n.Active, n.Next, changed = s.Next, nil, true
	case s.Next == nil && !now.Before(RenewAt(s.Active.Cert)):
		next, err := NewAuthority(caCommonName, now, p.CAValidity)
		if err != nil {
			return nil, false, err
		}
		n.Next, changed = next, true
	}
	for _, c := range s.Previous {
		if now.Before(c.NotAfter) {
			n.Previous = append(n.Previous, c)
		} else {
			changed = true
		}
	}
	return n, changed, nil
}

// NextStep is when Step will next change something, so a caller can sleep
// until then.
func (s *State) NextStep(p Policy) time.Time {
	p = p.withDefaults()
	t := RenewAt(s.Active.Cert)
	if s.Next != nil {
		t = s.Next.Cert.NotBefore.Add(clockSkew + p.Propagation)
	}
	for _, c := range s.Previous {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// Secret keys of the stored State (a Secret in the controller namespace).
const (
	KeyCert     = "ca.crt"
	KeyKey      = "ca.key"
	KeyNextCert = "next.crt"
	KeyNextKey  = "next.key"
	KeyPrevious = "previous.crt"
	// KeyBundle is derived (Trusted), written for people and tools; it is
	// never read back.
	KeyBundle = "trust-bundle.crt"
)

// Encode is the Secret data of s.
func (s *State) Encode() map[string][]byte {
	d := map[string][]byte{
		KeyCert:   s.Active.CertPEM,
		KeyKey:    s.Active.KeyPEM,
		KeyBundle: s.BundlePEM(),
	}
	if s.Next != nil {
		d[KeyNextCert], d[KeyNextKey] = s.Next.CertPEM, s.Next.KeyPEM
	}
	if len(s.Previous) > 0 {
		d[KeyPrevious] = EncodeCertificates(s.Previous)
	}
	return d
}

// DecodeState reads a State from Secret data, naming the key that is wrong.
func DecodeState(d map[string][]byte) (*State, error) {
	a, err := ParseAuthority(d[KeyCert], d[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("keys %s/%s: %w", KeyCert, KeyKey, err)
	}
	s := &State{Active: a}
	if len(d[KeyNextCert]) > 0 || len(d[KeyNextKey]) > 0 {
		if s.Next, err = ParseAuthority(d[KeyNextCert], d[KeyNextKey]); err != nil {
			return nil, fmt.Errorf("keys %s/%s: %w", KeyNextCert, KeyNextKey, err)
		}
	}
	if len(d[KeyPrevious]) > 0 {
		if s.Previous, err = ParseCertificates(d[KeyPrevious]); err != nil {
			return nil, fmt.Errorf("key %s: %w", KeyPrevious, err)
		}
	}
	return s, nil
}
