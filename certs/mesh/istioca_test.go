package mesh_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/certs/mesh"
	"github.com/edgeway/edgeway/test/meshpeer"
)

// TestIstioCAIssue drives IstioCA against a real gRPC server on loopback
// implementing istio.v1.auth.IstioCertificateService (test/meshpeer
// Istiod): the token's identity is signed and verified against the mesh
// root; a token of another service account, an unknown token and a wrong
// root are refused with messages that say so.
func TestIstioCAIssue(t *testing.T) {
	now := time.Now()
	cacerts, err := mesh.GenerateCACerts("istio ca test", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id := mesh.SPIFFEID("cluster.local", "edge", "gw-edgeway")
	other := mesh.SPIFFEID("cluster.local", "edge", "someone-else")
	d, err := meshpeer.StartIstiod(cacerts, map[string]*url.URL{"gw-token": id, "other-token": other})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca := &mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "gw-token", ClusterID: "Kubernetes"}
	w, err := ca.Issue(ctx, id, now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cert.URIs[0].String() != id.String() || strings.Count(string(w.ChainPEM), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("identity %v, chain of %d certificates (want leaf and intermediate, no root)", w.Cert.URIs, strings.Count(string(w.ChainPEM), "BEGIN CERTIFICATE"))
	}
	if got := w.Cert.NotAfter.Sub(w.Cert.NotBefore); got < 10*time.Minute || got > 12*time.Minute {
		t.Errorf("lifetime %s, want the requested 10m (plus the CA's backdating)", got)
	}

	bad := []struct {
		name string
		ca   mesh.IstioCA
		want string
	}{
		{"token of another service account", mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "other-token"}, "the token belongs to another service account"},
		{"unknown token", mesh.IstioCA{Address: d.Addr, RootPEM: cacerts[mesh.KeyRootCert], Token: "nope"}, "Unauthenticated"},
	}
	otherMesh, _ := mesh.GenerateCACerts("other", now, time.Hour)
	bad = append(bad, struct {
		name string
		ca   mesh.IstioCA
		want string
	}{"root of another mesh", mesh.IstioCA{Address: d.Addr, RootPEM: otherMesh[mesh.KeyRootCert], Token: "gw-token"}, "certificate signed by unknown authority"})
	for _, b := range bad {
		if _, err := b.ca.Issue(ctx, id, now, time.Minute); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want %q", b.name, err, b.want)
		}
	}
}
