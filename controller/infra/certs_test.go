package infra

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/ca"
	"github.com/edgeway/edgeway/controller/xds"
)

// TestCredentials: a certificate is issued once, kept while good, renewed
// after two thirds of its life, replaced when its identity or issuer is
// wrong; the CA bundle follows the CA.
func TestCredentials(t *testing.T) {
	now := time.Now()
	p := ca.Policy{CAValidity: 1000 * time.Hour, Propagation: time.Hour}
	st, err := ca.NewState(now, p)
	if err != nil {
		t.Fatal(err)
	}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "edge"}}
	const validity = 30 * time.Hour

	d1, renew1, why, err := credentials(nil, st, gw, now, validity)
	if err != nil || why != "issued" {
		t.Fatalf("first: why=%q err=%v", why, err)
	}
	leaf, err := ca.ParseCertificate(d1[keyCert])
	if err != nil {
		t.Fatal(err)
	}
	if id, err := xds.NodeIDFromCertificate(leaf); err != nil || id != "team-a/edge" {
		t.Fatalf("identity %q, %v", id, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: st.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if !renew1.Equal(ca.RenewAt(leaf)) {
		t.Fatalf("renewAt %s, want %s", renew1, ca.RenewAt(leaf))
	}

	d2, _, why, _ := credentials(d1, st, gw, now.Add(time.Hour), validity)
	if why != "" || string(d2[keyCert]) != string(d1[keyCert]) {
		t.Fatalf("a good certificate was replaced (%q)", why)
	}
	if _, _, why, _ := credentials(d1, st, gw, renew1, validity); why != "renewed" {
		t.Fatalf("at two thirds: %q, want renewed", why)
	}
	other := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "edge"}}
	if _, _, why, _ := credentials(d1, st, other, now, validity); why != "replaced a certificate for another identity" {
		t.Fatalf("copied Secret: %q", why)
	}
	foreign, _ := ca.NewState(now, p)
	if _, _, why, _ := credentials(d1, foreign, gw, now, validity); !strings.HasPrefix(why, "replaced a certificate the CA no longer vouches for") {
		t.Fatalf("new CA: %q", why)
	}
	broken := map[string][]byte{keyCert: d1[keyCert], keyKey: []byte("junk"), keyCA: d1[keyCA]}
	if _, _, why, _ := credentials(broken, st, gw, now, validity); !strings.HasPrefix(why, "replaced an unusable certificate") {
		t.Fatalf("broken key: %q", why)
	}

	// A rotation starts: same certificate, new bundle with both CAs.
	rot, changed, err := st.Step(ca.RenewAt(st.Active.Cert), p)
	if err != nil || !changed {
		t.Fatal("no rotation")
	}
	d3, _, why, _ := credentials(d1, rot, gw, now.Add(time.Hour), validity)
	if why != "CA bundle changed" || string(d3[keyCert]) != string(d1[keyCert]) || string(d3[keyCA]) != string(rot.BundlePEM()) {
		t.Fatalf("bundle update: %q", why)
	}
}
