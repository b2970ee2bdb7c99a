package ir

import (
	"reflect"
	"testing"
)

func names[T any](xs []*T, name func(*T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, name(x))
	}
	return out
}

func TestSplitByGatewayKeepsExactlyWhatIsReferenced(t *testing.T) {
	fwd := func(cs ...string) *Forward {
		f := &Forward{}
		for _, c := range cs {
			f.Backends = append(f.Backends, WeightedCluster{Cluster: c, Weight: 1})
		}
		return f
	}
	x := &IR{
		Listeners: []*Listener{
			{Name: "a/80", Gateways: []string{"ns/a"}, HTTP: &HTTPChain{RouteTable: "rt-a"}},
			{Name: "a/443", Gateways: []string{"ns/a"}, TLS: []*TLSChain{
				{Name: "https", Terminate: &TLSTerminate{Certificates: []string{"cert-a"}, ClientValidation: &ClientValidation{CACertificates: "ca-a"}, HTTP: &HTTPChain{RouteTable: "rt-a-tls"}}},
				{Name: "pt", Passthrough: &TCPChain{Backends: []WeightedCluster{{Cluster: "pt-a"}}}},
				{Name: "acme-tls-alpn/a.example", ServerNames: []string{"a.example"}, ACMEChallenge: &ACMEChallenge{Certificate: "acme-a"}},
			}},
			{Name: "b/9000", Gateways: []string{"ns/b"}, TCP: &TCPChain{Backends: []WeightedCluster{{Cluster: "tcp-b"}}}},
			{Name: "b/53", Gateways: []string{"ns/b"}, UDP: &UDPChain{Backends: []WeightedCluster{{Cluster: "udp-b"}}}},
		},
		RouteTables: []*RouteTable{
			{Name: "rt-a", VirtualHosts: []*VirtualHost{{Name: "*", Routes: []*Route{{Name: "r", Forward: func() *Forward {
				f := fwd("shared")
				f.Mirrors = []Mirror{{Cluster: "mirror-a"}}
				return f
			}()}}}}},
			{Name: "rt-a-tls", VirtualHosts: []*VirtualHost{{Name: "*", Routes: []*Route{{Name: "r", Redirect: &Redirect{}}}}}},
			{Name: "rt-unused", VirtualHosts: []*VirtualHost{{Name: "*", Routes: []*Route{{Name: "r", Forward: fwd("unused")}}}}},
		},
		Clusters: []*Cluster{
			{Name: "mirror-a"}, {Name: "pt-a"},
			{Name: "shared", TLS: &UpstreamTLS{CACertificates: "ca-up", ClientCertificateByGateway: map[string]string{"ns/a": "client-a", "ns/b": "client-b"}}},
			{Name: "tcp-b"}, {Name: "udp-b"}, {Name: "unused"},
		},
		Secrets: []*Secret{{Name: "acme-a"}, {Name: "ca-a"}, {Name: "ca-up"}, {Name: "cert-a"}, {Name: "client-a"}, {Name: "client-b"}, {Name: "unused"}},
	}
	parts := SplitByGateway(x)
	if got := Gateways(parts); !reflect.DeepEqual(got, []string{"ns/a", "ns/b"}) {
		t.Fatalf("gateways = %v", got)
	}
	a, b := parts["ns/a"], parts["ns/b"]
	listenerName := func(l *Listener) string { return l.Name }
	check := func(what string, got, want []string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("a listeners", names(a.Listeners, listenerName), []string{"a/80", "a/443"})
	check("a route tables", names(a.RouteTables, func(r *RouteTable) string { return r.Name }), []string{"rt-a", "rt-a-tls"})
	check("a clusters", names(a.Clusters, func(c *Cluster) string { return c.Name }), []string{"mirror-a", "pt-a", "shared"})
	check("a secrets", names(a.Secrets, func(s *Secret) string { return s.Name }), []string{"acme-a", "ca-a", "ca-up", "cert-a", "client-a"})
	check("b listeners", names(b.Listeners, listenerName), []string{"b/9000", "b/53"})
	check("b route tables", names(b.RouteTables, func(r *RouteTable) string { return r.Name }), nil)
	check("b clusters", names(b.Clusters, func(c *Cluster) string { return c.Name }), []string{"tcp-b", "udp-b"})
	check("b secrets", names(b.Secrets, func(s *Secret) string { return s.Name }), nil)

	// The shared cluster carries a's certificate in a's part only; the input is untouched.
	if got := a.Clusters[2].TLS; got.ClientCertificate != "client-a" || got.ClientCertificateByGateway != nil {
		t.Errorf("a's shared cluster TLS = %+v", got)
	}
	if in := x.Clusters[2].TLS; in.ClientCertificate != "" || len(in.ClientCertificateByGateway) != 2 {
		t.Errorf("input cluster changed: %+v", in)
	}
	// Unchanged objects are shared, not copied.
	if a.Listeners[0] != x.Listeners[0] || a.Clusters[0] != x.Clusters[0] {
		t.Error("unchanged objects were copied")
	}
}

func TestSplitByGatewayCopiesSharedListeners(t *testing.T) {
	x := &IR{Listeners: []*Listener{{Name: "0.0.0.0:80", Gateways: []string{"ns/a", "ns/b"}, HTTP: &HTTPChain{RouteTable: "rt"}}},
		RouteTables: []*RouteTable{{Name: "rt"}}}
	parts := SplitByGateway(x)
	if len(parts) != 2 || len(parts["ns/a"].RouteTables) != 1 || len(parts["ns/b"].RouteTables) != 1 {
		t.Fatalf("parts = %+v", parts)
	}
	if len(SplitByGateway(nil)) != 0 || len(SplitByGateway(&IR{})) != 0 {
		t.Fatal("empty IR has parts")
	}
}

func TestValidateRefusesPerGatewayClientCertificates(t *testing.T) {
	x := &IR{Clusters: []*Cluster{{Name: "c", Discovery: DiscoveryEDS, TLS: &UpstreamTLS{SNI: "a.example", SystemCAs: true,
		SubjectAltNames:            []SubjectAltName{{Type: SANDNS, Value: "a.example"}},
		ClientCertificateByGateway: map[string]string{"ns/a": "x"}}}}}
	if err := x.Validate(); err == nil {
		t.Fatal("an IR with clientCertificateByGateway validated")
	}
}
