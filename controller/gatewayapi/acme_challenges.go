package gatewayapi

import (
	"fmt"
	"sort"

	"github.com/edgeway/edgeway/controller/ir"
)

// Serving the ACME challenges the manager's state Secrets carry. A
// challenge is only ever served for a hostname an ACME listener declares:
// the state's domain must equal the hostname of the listener it is served
// for, so neither a stale nor a forged state Secret can make a Gateway
// answer for a name it does not own.

// http01Route is one HTTP-01 token to answer on a route table.
type http01Route struct {
	domain string
	route  *ir.Route
}

// addHTTP01Routes answers the HTTP-01 tokens of the Gateways on a plain
// HTTP socket: for each token whose domain an ACME listener of one of those
// Gateways declares, an Exact route on ir.ACMEChallengePathPrefix+token
// answering the key authorization, first in the virtual host the domain
// selects (exact, then the longest wildcard, then "*", as the data plane
// selects), or in a virtual host of its own when none does. Being first and
// exact, it wins over every user route (a catch-all redirect to HTTPS
// included) for exactly that path and changes nothing else.
func (t *translator) addHTTP01Routes(rt *ir.RouteTable, s *socket) {
	var routes []http01Route
	seen := map[string]bool{}
	for _, gk := range s.gateways() {
		for _, l := range t.byKey[gk].listeners {
			if l.acme == nil || l.acme.group == nil {
				continue
			}
			grp := l.acme.group
			for _, ch := range grp.http01 {
				if ch.Domain != l.hostname {
					continue
				}
				name := fmt.Sprintf("acme-http01/%s/%s/%s", grp.secret.Namespace, grp.secret.Name, ch.Token)
				if seen[ch.Domain+" "+name] {
					continue
				}
				seen[ch.Domain+" "+name] = true
				routes = append(routes, http01Route{domain: ch.Domain, route: &ir.Route{
					Name:           name,
					Match:          ir.RouteMatch{Path: &ir.PathMatch{Type: ir.PathExact, Value: ir.ACMEChallengePathPrefix + ch.Token}},
					DirectResponse: &ir.DirectResponse{StatusCode: 200, Body: ch.KeyAuthorization},
				}})
			}
		}
	}
	if len(routes) == 0 {
		return
	}
	sort.SliceStable(routes, func(i, j int) bool {
		if routes[i].domain != routes[j].domain {
			return routes[i].domain < routes[j].domain
		}
		return routes[i].route.Name < routes[j].route.Name
	})
	first := map[*ir.VirtualHost][]*ir.Route{}
	for _, r := range routes {
		vh := selectVirtualHost(rt, r.domain)
		if vh == nil {
			vh = &ir.VirtualHost{Name: r.domain, Domains: []string{r.domain}}
			rt.VirtualHosts = append(rt.VirtualHosts, vh)
		}
		first[vh] = append(first[vh], r.route)
	}
	// A copy of each virtual host gets the challenge routes: a built one
	// may be shared with the Translator's previous translation (memo.go).
	for i, vh := range rt.VirtualHosts {
		if rs, ok := first[vh]; ok {
			c := *vh
			c.Routes = append(rs, vh.Routes...)
			rt.VirtualHosts[i] = &c
		}
	}
	sort.SliceStable(rt.VirtualHosts, func(i, j int) bool { return rt.VirtualHosts[i].Name < rt.VirtualHosts[j].Name })
}

// selectVirtualHost is the virtual host the data plane picks for host:
// an exact domain, else the longest matching "*.suffix" wildcard, else
// "*"; nil when none matches.
func selectVirtualHost(rt *ir.RouteTable, host string) *ir.VirtualHost {
	var wildcard, catchAll *ir.VirtualHost
	longest := 0
	for _, vh := range rt.VirtualHosts {
		for _, d := range vh.Domains {
			switch {
			case d == host:
				return vh
			case d == anyHost:
				catchAll = vh
			case isWildcard(d) && covers(d, host) && len(d) > longest:
				wildcard, longest = vh, len(d)
			}
		}
	}
	if wildcard != nil {
		return wildcard
	}
	return catchAll
}

// tlsALPN01Chains are the TLS-ALPN-01 chains of a TLS socket: for each
// challenge whose domain is the hostname of an ACME listener on the socket
// (served or still pending), a chain presenting the challenge certificate
// to clients offering ALPN acme-tls/1 for that name. Their certificates
// are added to t.certs and marked used.
func (t *translator) tlsALPN01Chains(s *socket, used map[string]bool) []*ir.TLSChain {
	var out []*ir.TLSChain
	for _, l := range s.listeners {
		if l.acme == nil || l.acme.group == nil {
			continue
		}
		grp := l.acme.group
		for _, ch := range grp.tlsALPN01 {
			if ch.Domain != l.hostname {
				continue
			}
			secret := fmt.Sprintf("acme-tls-alpn/%s/%s/%s", grp.secret.Namespace, grp.secret.Name, ch.Domain)
			t.certs[secret] = &ir.Secret{Name: secret, CertChain: ch.Certificate, PrivateKey: ch.PrivateKey}
			used[secret] = true
			out = append(out, &ir.TLSChain{
				Name:          "acme-tls-alpn/" + ch.Domain,
				ServerNames:   []string{ch.Domain},
				ACMEChallenge: &ir.ACMEChallenge{Certificate: secret},
			})
			break // one chain per name; a state lists a domain once
		}
	}
	return out
}
