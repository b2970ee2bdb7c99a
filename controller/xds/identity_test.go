package xds

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
)

func TestNodeIDFromCertificate(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := GatewayIdentity("team-a", "gw.a").String(); got != "spiffe://edgeway/gateway/team-a/gw.a" {
		t.Fatalf("GatewayIdentity: %s", got)
	}
	for _, tc := range []struct {
		name string
		uris []*url.URL
		want string // node id, or "error: <substring>"
	}{
		{"one identity", []*url.URL{GatewayIdentity("team-a", "gw.a")}, "team-a/gw.a"},
		{"other SANs ignored", []*url.URL{u("spiffe://cluster.local/ns/a/sa/b"), GatewayIdentity("ns", "gw")}, "ns/gw"},
		{"none", []*url.URL{u("spiffe://cluster.local/ns/a/sa/b")}, "error: no spiffe://edgeway/gateway/"},
		{"two Gateways", []*url.URL{GatewayIdentity("a", "x"), GatewayIdentity("b", "y")}, "error: names 2 Gateways"},
		{"too deep", []*url.URL{u("spiffe://edgeway/gateway/a/b/c")}, "error: is not spiffe://edgeway/gateway/<namespace>/<name>"},
		{"no name", []*url.URL{u("spiffe://edgeway/gateway/a/")}, "error: is not"},
		{"other path", []*url.URL{u("spiffe://edgeway/controller/x")}, "error: is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NodeIDFromCertificate(&x509.Certificate{URIs: tc.uris})
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, want)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
