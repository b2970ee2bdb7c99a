package config

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
)

// TestRefusingChain: the empty direct_response without a transport socket
// and without application_protocols is a refusing chain. It compiles, wins
// the server name match like any chain (its exact name over a wildcard
// HTTPS chain), and carries neither TLS nor a terminal HTTP or TCP stage.
func TestRefusingChain(t *testing.T) {
	r := acmeResources(t)
	l := r.Listeners["0.0.0.0:8080"]
	l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
		Name:             "refuse/idle.example.com",
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{"idle.example.com"}},
		Filters:          []*listenerv3.Filter{directResponseFilter(&directresponsev3.Config{})},
	})
	cfg, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.Listeners["0.0.0.0:8080"]
	c := cl.SelectChain("idle.example.com", []string{"h2"})
	if c == nil || c.Name != "refuse/idle.example.com" {
		t.Fatalf("SelectChain(idle.example.com) = %v, want the refusing chain", c)
	}
	if c.DirectResponse == nil || c.TLS != nil || c.HTTP != nil || c.TCP != nil {
		t.Fatalf("refusing chain compiled as %+v", c)
	}
	if c := cl.SelectChain("other.example.com", nil); c == nil || c.Name != "https/wild" {
		t.Errorf("SelectChain(other.example.com) = %v, want https/wild", c)
	}

	// With a transport socket it is neither a challenge nor a refusing
	// chain: NACKed naming the filter.
	l.FilterChains[len(l.FilterChains)-1].TransportSocket = acmeTestTLS([]string{"h2", "http/1.1"}, "cert")
	err = Validate(TypeListener, r)
	if err == nil || !strings.Contains(err.Error(), `filter_chains[3].filters[0].name: "envoy.filters.network.direct_response" is only supported on a TLS-ALPN-01 challenge chain`) {
		t.Fatalf("direct_response behind TLS without acme-tls/1: %v", err)
	}
}
