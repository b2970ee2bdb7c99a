package ir

import (
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// valid is a small IR touching every object kind; each case breaks one thing.
func valid() *IR {
	return &IR{
		Listeners: []*Listener{
			{Name: "0.0.0.0:80", Address: "0.0.0.0", Port: 80, HTTP: &HTTPChain{RouteTable: "rt"}},
			{Name: "0.0.0.0:443", Address: "0.0.0.0", Port: 443, TLS: []*TLSChain{
				{Name: "https/a", ServerNames: []string{"a.example.com"}, Terminate: &TLSTerminate{Certificates: []string{"default/a"}, HTTP: &HTTPChain{RouteTable: "rt"}}},
				{Name: "passthrough/b", ServerNames: []string{"*.b.example.com"}, Passthrough: &TCPChain{Backends: []WeightedCluster{{Cluster: "c", Weight: 1}}}},
			}},
			{Name: "0.0.0.0:5000", Address: "0.0.0.0", Port: 5000, TCP: &TCPChain{Backends: []WeightedCluster{{Cluster: "c", Weight: 1}}}},
		},
		RouteTables: []*RouteTable{{Name: "rt", VirtualHosts: []*VirtualHost{{
			Name: "vh", Domains: []string{"*"},
			Routes: []*Route{
				{Name: "r0", Match: RouteMatch{Path: &PathMatch{Type: PathPrefix, Value: "/a"}},
					Forward: &Forward{Backends: []WeightedCluster{{Cluster: "c", Weight: 1}}, Rewrite: &URLRewrite{ReplacePrefixMatch: ptr("/b")}}},
				{Name: "r1", Match: RouteMatch{Path: &PathMatch{Type: PathRegex, Value: "/x.*"}, Method: "GET"},
					Redirect: &Redirect{Scheme: "https", StatusCode: 301}},
			},
		}}}},
		Clusters: []*Cluster{{Name: "c", Discovery: DiscoveryEDS, Endpoints: []Endpoint{{Address: "10.0.0.1", Port: 80}}}},
		Secrets:  []*Secret{{Name: "default/a", CertChain: "cert", PrivateKey: "key"}},
	}
}

// withACME adds a TLS-ALPN-01 chain for the name of the terminating chain
// https/a, and its certificate.
func withACME(x *IR) *IR {
	x.Listeners[1].TLS = append([]*TLSChain{{Name: "acme-tls-alpn/a.example.com", ServerNames: []string{"a.example.com"}, ACMEChallenge: &ACMEChallenge{Certificate: "acme"}}}, x.Listeners[1].TLS...)
	x.Secrets = append([]*Secret{{Name: "acme", CertChain: "cert", PrivateKey: "key"}}, x.Secrets...)
	return x
}

// acmeChain adds the TLS-ALPN-01 chain to x and returns it.
func acmeChain(x *IR) *TLSChain { return withACME(x).Listeners[1].TLS[0] }

// A TLS-ALPN-01 chain shares its server name with the terminating chain
// (it is selected by ALPN acme-tls/1 as well), and may be a listener's only
// chain (the certificate Secret does not exist yet).
func TestValidateAcceptsACMEChallengeChains(t *testing.T) {
	if err := withACME(valid()).Validate(); err != nil {
		t.Fatal(err)
	}
	x := withACME(valid())
	x.Listeners[1].TLS = x.Listeners[1].TLS[:1]
	if err := x.Validate(); err != nil {
		t.Fatalf("a listener with only a challenge chain: %v", err)
	}
	// The default-chain rule still holds around challenge chains.
	x = withACME(valid())
	x.Listeners[1].TLS[1].ServerNames, x.Listeners[1].TLS[2].ServerNames = nil, nil
	if err := x.Validate(); err == nil || !strings.Contains(err.Error(), "already is the default chain") {
		t.Fatalf("two default chains beside a challenge chain: %v", err)
	}
}

func TestValidateAcceptsValidIR(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	// A refusing chain needs nothing but its server names.
	x := valid()
	x.Listeners[1].TLS = append(x.Listeners[1].TLS, &TLSChain{Name: "refuse/c.example.com", ServerNames: []string{"c.example.com"}, Refuse: true})
	if err := x.Validate(); err != nil {
		t.Fatalf("refusing chain: %v", err)
	}
	if err := (&IR{}).Validate(); err != nil {
		t.Fatalf("empty IR: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(x *IR)
		want   string
	}{
		{"duplicate listener", func(x *IR) { x.Listeners[1].Name = x.Listeners[0].Name },
			`listeners["0.0.0.0:80"].name: duplicate listener name`},
		{"same socket", func(x *IR) { x.Listeners[1].Port = 80 },
			`listeners["0.0.0.0:443"]: address 0.0.0.0 and port 80 already used by listener "0.0.0.0:80"`},
		{"port 0", func(x *IR) { x.Listeners[0].Port = 0 }, `listeners["0.0.0.0:80"].port: 0 is not in 1-65535`},
		{"port too big", func(x *IR) { x.Listeners[0].Port = 70000 }, `.port: 70000 is not in 1-65535`},
		{"bad address", func(x *IR) { x.Listeners[0].Address = "localhost" }, `.address: "localhost" is not an IP address`},
		{"two protocols", func(x *IR) { x.Listeners[0].TCP = x.Listeners[2].TCP }, `exactly one of http, tls, tcp, udp must be set, found 2`},
		{"no protocol", func(x *IR) { x.Listeners[0].HTTP = nil }, `exactly one of http, tls, tcp, udp must be set, found 0`},
		{"missing route table", func(x *IR) { x.Listeners[0].HTTP.RouteTable = "nope" },
			`listeners["0.0.0.0:80"].http.routeTable: route table "nope" does not exist`},
		{"missing secret", func(x *IR) { x.Listeners[1].TLS[0].Terminate.Certificates = []string{"nope"} },
			`listeners["0.0.0.0:443"].tls["https/a"].terminate.certificates: secret "nope" does not exist`},
		{"no certificates", func(x *IR) { x.Listeners[1].TLS[0].Terminate.Certificates = nil }, `at least one certificate is required`},
		{"terminate and passthrough", func(x *IR) { x.Listeners[1].TLS[0].Passthrough = x.Listeners[1].TLS[1].Passthrough },
			`tls["https/a"]: exactly one of terminate, passthrough, acmeChallenge, refuse must be set, found 2`},
		{"terminate and acmeChallenge", func(x *IR) { x.Listeners[1].TLS[0].ACMEChallenge = &ACMEChallenge{Certificate: "acme"} },
			`tls["https/a"]: exactly one of terminate, passthrough, acmeChallenge, refuse must be set, found 2`},
		{"terminate and refuse", func(x *IR) { x.Listeners[1].TLS[0].Refuse = true },
			`tls["https/a"]: exactly one of terminate, passthrough, acmeChallenge, refuse must be set, found 2`},
		{"refuse with a server name already used", func(x *IR) {
			x.Listeners[1].TLS = append(x.Listeners[1].TLS, &TLSChain{Name: "refuse/a.example.com", ServerNames: []string{"a.example.com"}, Refuse: true})
		}, `tls["refuse/a.example.com"].serverNames: "a.example.com" already used by chain "https/a"`},
		{"no chain kind", func(x *IR) { x.Listeners[1].TLS[0].Terminate = nil },
			`tls["https/a"]: exactly one of terminate, passthrough, acmeChallenge, refuse must be set, found 0`},
		{"acmeChallenge without server name", func(x *IR) { acmeChain(x).ServerNames = nil },
			`tls["acme-tls-alpn/a.example.com"].serverNames: an acmeChallenge chain has exactly one server name, found 0`},
		{"acmeChallenge with two server names", func(x *IR) { acmeChain(x).ServerNames = []string{"a.example.com", "b.example.com"} },
			`an acmeChallenge chain has exactly one server name, found 2`},
		{"acmeChallenge for a wildcard", func(x *IR) { acmeChain(x).ServerNames = []string{"*.example.com"} },
			`serverNames: "*.example.com" is not an exact host name`},
		{"acmeChallenge without secret", func(x *IR) { acmeChain(x).ACMEChallenge.Certificate = "nope" },
			`tls["acme-tls-alpn/a.example.com"].acmeChallenge.certificate: secret "nope" does not exist`},
		{"acmeChallenge with a CA bundle", func(x *IR) {
			x.Secrets = append(x.Secrets, &Secret{Name: "ca", TrustedCA: "pem"})
			acmeChain(x).ACMEChallenge.Certificate = "ca"
		}, `acmeChallenge.certificate: secret "ca" is a CA bundle`},
		{"two acmeChallenge chains for one name", func(x *IR) {
			withACME(x)
			x.Listeners[1].TLS = append(x.Listeners[1].TLS, &TLSChain{Name: "acme-tls-alpn/again", ServerNames: []string{"a.example.com"}, ACMEChallenge: &ACMEChallenge{Certificate: "acme"}})
		}, `tls["acme-tls-alpn/again"].serverNames: "a.example.com" already used by acmeChallenge chain "acme-tls-alpn/a.example.com"`},
		{"duplicate SNI", func(x *IR) { x.Listeners[1].TLS[1].ServerNames = []string{"a.example.com"} },
			`tls["passthrough/b"].serverNames: "a.example.com" already used by chain "https/a"`},
		{"two default chains", func(x *IR) { x.Listeners[1].TLS[0].ServerNames = nil; x.Listeners[1].TLS[1].ServerNames = nil },
			`already is the default chain`},
		{"missing cluster", func(x *IR) { x.Listeners[2].TCP.Backends[0].Cluster = "nope" },
			`listeners["0.0.0.0:5000"].tcp.backends[0].cluster: cluster "nope" does not exist`},
		{"zero weights", func(x *IR) { x.Listeners[2].TCP.Backends[0].Weight = 0 }, `tcp.backends: every weight is 0`},
		{"no backends", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[0].Forward.Backends = nil },
			`routeTables["rt"].virtualHosts["vh"].routes[0].forward.backends: at least one backend is required`},
		{"two actions", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[0].DirectResponse = &DirectResponse{StatusCode: 500}
		}, `routes[0]: exactly one of forward, redirect, directResponse must be set, found 2`},
		{"bad regex", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[1].Match.Path.Value = "(" },
			`routes[1].match.path.value: invalid regular expression`},
		{"bad header regex", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[1].Match.Headers = []StringMatch{{Name: "x-a", Type: MatchRegex, Value: "[a"}}
		}, `routes[1].match.headers[0].value: invalid regular expression`},
		{"upper-case header", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[1].Match.Headers = []StringMatch{{Name: "X-A", Type: MatchExact, Value: "a"}}
		}, `must be lower-case`},
		{"prefix without slash", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[0].Match.Path.Value = "a" },
			`routes[0].match.path.value: "a" must start with /`},
		{"replace prefix without prefix match", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[0].Match.Path.Type = PathExact
		}, `routes[0].forward.rewrite.replacePrefixMatch: requires a PathPrefix path match`},
		{"full path and replace prefix", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[0].Forward.Rewrite.FullPath = ptr("/x")
		}, `at most one of fullPath, replacePrefixMatch may be set`},
		{"redirect code", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[1].Redirect.StatusCode = 200 },
			`routes[1].redirect.statusCode: 200 is not one of 301, 302, 303, 307, 308`},
		{"redirect scheme", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[1].Redirect.Scheme = "ftp" }, `redirect.scheme: "ftp"`},
		{"redirect port", func(x *IR) { x.RouteTables[0].VirtualHosts[0].Routes[1].Redirect.Port = ptr(uint32(0)) },
			`redirect.port: 0 is not in 1-65535`},
		{"direct response code", func(x *IR) {
			r := x.RouteTables[0].VirtualHosts[0].Routes[1]
			r.Redirect, r.DirectResponse = nil, &DirectResponse{StatusCode: 99}
		}, `directResponse.statusCode: 99 is not in 200-599`},
		{"duplicate domain", func(x *IR) {
			vhs := &x.RouteTables[0].VirtualHosts
			*vhs = append(*vhs, &VirtualHost{Name: "vh2", Domains: []string{"*"}})
		}, `virtualHosts["vh2"].domains: "*" already used by virtual host "vh"`},
		{"bad header name", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[0].RequestHeaders = &HeaderModifier{Remove: []string{"bad header"}}
		}, `requestHeaders.remove: "bad header" is not a valid header name`},
		{"Host set as a header", func(x *IR) {
			x.RouteTables[0].VirtualHosts[0].Routes[0].RequestHeaders = &HeaderModifier{Set: []Header{{Name: "HOST", Value: "x"}}}
		}, `requestHeaders.set: the Host header cannot be modified as a header`},
		{"DNS name of a long label", func(x *IR) {
			x.Clusters[0].Discovery = DiscoveryDNS
			x.Clusters[0].Endpoints[0].Address = strings.Repeat("a", 64) + ".example.com"
		}, `is neither a host name nor an IP address`},
		{"duplicate cluster", func(x *IR) { x.Clusters = append(x.Clusters, &Cluster{Name: "c", Discovery: DiscoveryEDS}) },
			`clusters["c"].name: duplicate cluster name`},
		{"EDS hostname", func(x *IR) { x.Clusters[0].Endpoints[0].Address = "db.example.com" },
			`clusters["c"].endpoints[0].address: "db.example.com" is not an IP address`},
		{"EDS IP with a zone", func(x *IR) { x.Clusters[0].Endpoints[0].Address = "fe80::1%eth0" },
			`clusters["c"].endpoints[0].address: "fe80::1%eth0" is not an IP address`},
		{"discovery", func(x *IR) { x.Clusters[0].Discovery = "STATIC" }, `clusters["c"].discovery: unknown discovery type "STATIC"`},
		{"endpoint port", func(x *IR) { x.Clusters[0].Endpoints[0].Port = 0 }, `clusters["c"].endpoints[0].port: 0 is not in 1-65535`},
		{"empty key", func(x *IR) { x.Secrets[0].PrivateKey = "" }, `secrets["default/a"].privateKey: must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := valid()
			tc.break_(x)
			err := x.Validate()
			if err == nil {
				t.Fatalf("Validate accepted the IR; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestValidateRoute: the route checks alone, as the translator runs them
// on each route it makes; references to clusters are not checked there.
func TestValidateRoute(t *testing.T) {
	r := valid().RouteTables[0].VirtualHosts[0].Routes[0]
	r.Forward.Backends[0].Cluster = "not-in-this-ir"
	if err := ValidateRoute(r); err != nil {
		t.Fatalf("ValidateRoute = %v, want nil: cluster references are the IR's to check", err)
	}
	r.Match.Path = &PathMatch{Type: PathRegex, Value: ""}
	if err := ValidateRoute(r); err == nil || !strings.Contains(err.Error(), "route.match.path.value: regular expression must not be empty") {
		t.Fatalf("ValidateRoute = %v, want the empty regular expression", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	x := valid()
	x.Listeners[0].Port = 0
	x.Secrets[0].CertChain = ""
	err := x.Validate()
	if err == nil || !strings.Contains(err.Error(), ".port:") || !strings.Contains(err.Error(), ".certChain:") {
		t.Fatalf("want both problems reported, got %v", err)
	}
}
