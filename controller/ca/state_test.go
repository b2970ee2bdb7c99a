package ca

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"
)

var policy = Policy{CAValidity: 90 * time.Hour, Propagation: time.Hour}

// TestRotationTimeline walks one CA generation through its life: nothing
// happens before two thirds, then Next is trusted, then promoted after the
// propagation delay, then the old CA drops out of the bundle when it
// expires.
func TestRotationTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := NewState(t0, policy)
	if err != nil {
		t.Fatal(err)
	}
	first := st.Active.Cert

	if _, changed, _ := st.Step(RenewAt(first).Add(-time.Minute), policy); changed {
		t.Fatal("changed before two thirds of the CA's life")
	}
	if got := st.NextStep(policy); !got.Equal(RenewAt(first)) {
		t.Fatalf("NextStep %s, want %s", got, RenewAt(first))
	}

	tRot := RenewAt(first)
	rot, changed, err := st.Step(tRot, policy)
	if err != nil || !changed || rot.Next == nil {
		t.Fatalf("at two thirds: changed=%v next=%v err=%v", changed, rot.Next != nil, err)
	}
	if !rot.Active.Cert.Equal(first) {
		t.Fatal("the old CA must keep signing until the new one has propagated")
	}
	if n := len(rot.Trusted()); n != 2 {
		t.Fatalf("trusted during rotation: %d CAs, want 2", n)
	}
	if _, changed, _ := rot.Step(tRot.Add(policy.Propagation-time.Second), policy); changed {
		t.Fatal("promoted before the propagation delay")
	}

	promoted, changed, err := rot.Step(tRot.Add(policy.Propagation), policy)
	if err != nil || !changed || !promoted.Active.Cert.Equal(rot.Next.Cert) || promoted.Next != nil {
		t.Fatalf("promotion: changed=%v err=%v", changed, err)
	}
	if len(promoted.Previous) != 1 || !promoted.Previous[0].Equal(first) {
		t.Fatal("the old CA must stay trusted while its leaves may be in use")
	}
	if got := promoted.NextStep(policy); !got.Equal(first.NotAfter) {
		t.Fatalf("NextStep after promotion %s, want the old CA's expiry %s", got, first.NotAfter)
	}

	pruned, changed, err := promoted.Step(first.NotAfter, policy)
	if err != nil || !changed || len(pruned.Previous) != 0 || len(pruned.Trusted()) != 1 {
		t.Fatalf("expired CA not pruned: changed=%v previous=%d err=%v", changed, len(pruned.Previous), err)
	}
}

// TestExpiredActiveIsReplaced: a controller that was down past the CA's
// expiry replaces it at once (nothing it signed still verifies).
func TestExpiredActiveIsReplaced(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, _ := NewState(t0, policy)
	later := st.Active.Cert.NotAfter.Add(time.Hour)
	n, changed, err := st.Step(later, policy)
	if err != nil || !changed || n.Active.Cert.Equal(st.Active.Cert) || n.Next != nil {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if !n.Active.Cert.NotBefore.Before(later) || !n.Active.Cert.NotAfter.After(later) {
		t.Fatal("the replacement is not valid now")
	}
}

func TestEncodeDecode(t *testing.T) {
	t0 := time.Now()
	st, _ := NewState(t0.Add(-70*time.Hour), policy)
	rot, _, _ := st.Step(t0, policy)
	data := rot.Encode()
	back, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if !sameState(rot, back) || back.Next == nil {
		t.Fatal("round trip changed the state")
	}
	if string(data[KeyBundle]) != string(rot.BundlePEM()) {
		t.Fatal("bundle key is not the trusted bundle")
	}

	bad := rot.Encode()
	bad[KeyNextKey] = st.Active.KeyPEM // the wrong key for next.crt
	if _, err := DecodeState(bad); err == nil || !strings.Contains(err.Error(), "keys next.crt/next.key") ||
		!strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
	delete(bad, KeyCert)
	if _, err := DecodeState(bad); err == nil || !strings.Contains(err.Error(), "keys ca.crt/ca.key") {
		t.Fatalf("missing ca.crt: %v", err)
	}
}

func TestIssue(t *testing.T) {
	now := time.Now()
	st, _ := NewState(now, Policy{CAValidity: time.Hour})
	id, _ := url.Parse("spiffe://edgeway/gateway/ns/gw")
	leaf, err := st.Active.Issue(LeafRequest{CommonName: "ns/gw", URIs: []*url.URL{id}}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Cert.NotAfter.Equal(st.Active.Cert.NotAfter) {
		t.Fatalf("leaf outlives its CA: %s > %s", leaf.Cert.NotAfter, st.Active.Cert.NotAfter)
	}
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: st.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("client leaf does not verify for client auth: %v", err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: st.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client leaf must not be usable as a server certificate")
	}
	if len(leaf.Cert.URIs) != 1 || leaf.Cert.URIs[0].String() != id.String() {
		t.Fatalf("URIs %v", leaf.Cert.URIs)
	}
	if _, err := st.Active.Issue(LeafRequest{}, now, time.Hour); err == nil {
		t.Fatal("a leaf without identity was issued")
	}
}

// TestServingSource: the serving certificate is reused until the Active CA
// changes or it is two thirds through its life.
func TestServingSource(t *testing.T) {
	now := time.Now()
	st, _ := NewState(now.Add(-70*time.Hour), policy)
	cur := st
	src := NewServingSource(func() *State { return cur }, ServiceDNSNames("edgeway", "edgeway-system", "cluster.local"), time.Hour)
	src.now = func() time.Time { return now }
	c1, err := src.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Leaf.VerifyHostname("edgeway.edgeway-system.svc.cluster.local"); err != nil {
		t.Fatal(err)
	}
	if c2, _ := src.GetCertificate(nil); c2 != c1 {
		t.Fatal("reissued without reason")
	}
	src.now = func() time.Time { return RenewAt(c1.Leaf) }
	c3, _ := src.GetCertificate(nil)
	if c3 == c1 {
		t.Fatal("not renewed at two thirds of its life")
	}
	rot, _, _ := st.Step(now, policy)
	cur, _, _ = rot.Step(now.Add(policy.Propagation), policy)
	c4, _ := src.GetCertificate(nil)
	if c4 == c3 || string(c4.Leaf.AuthorityKeyId) != string(cur.Active.Cert.SubjectKeyId) {
		t.Fatal("not reissued by the new Active CA")
	}
	if _, err := c4.Leaf.Verify(x509.VerifyOptions{Roots: cur.Pool(), CurrentTime: now.Add(policy.Propagation)}); err != nil {
		t.Fatal(err)
	}
	if n := len(src.ClientCAs().Subjects()); n != 2 { //nolint:staticcheck // counting is all we do
		t.Fatalf("client CAs after promotion: %d, want 2 (new and previous)", n)
	}
}
