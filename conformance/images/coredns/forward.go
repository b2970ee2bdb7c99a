package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// The forward plugin is parsed like CoreDNS's (forward FROM TO... with an
// optional block) but never forwards: a query it would send upstream is
// answered REFUSED. The local cluster must not send a packet off the
// machine, and the conformance suite's Corefile forwards to public
// resolvers (8.8.8.8, 9.9.9.9) that no test needs: the UDPRoute test asks
// foo.bar.com, which the whoami block answers. REFUSED, rather than
// silence, makes clients give up at once instead of waiting for a timeout.

// forwardOptions are the block options CoreDNS's forward accepts; they are
// accepted and have no effect here.
var forwardOptions = map[string]bool{
	"except": true, "force_tcp": true, "prefer_udp": true, "expire": true,
	"max_fails": true, "tls": true, "tls_servername": true, "policy": true,
	"health_check": true, "max_concurrent": true, "next": true,
	"failfast_all_unhealthy_upstreams": true, "failover": true,
}

func addForward(file string, pl *plugins, d directive) error {
	if len(d.args) < 2 {
		return &parseError{file, d.line, "forward: needs a zone and at least one upstream (forward FROM TO...)"}
	}
	from := dns.Fqdn(strings.ToLower(d.args[0]))
	if _, ok := dns.IsDomainName(from); !ok {
		return &parseError{file, d.line, fmt.Sprintf("forward: %q is not a domain name", d.args[0])}
	}
	r := forwardRule{from: from, upstreams: d.args[1:], line: d.line}
	for _, o := range d.options {
		if !forwardOptions[o[0]] {
			return &parseError{file, d.line, fmt.Sprintf("forward: unknown option %q", o[0])}
		}
		if o[0] == "except" {
			for _, e := range o[1:] {
				r.except = append(r.except, dns.Fqdn(strings.ToLower(e)))
			}
		}
	}
	pl.forward = append(pl.forward, r)
	return nil
}

// forwards reports whether the rule would forward name.
func (r forwardRule) forwards(name string) bool {
	if !dns.IsSubDomain(r.from, name) {
		return false
	}
	for _, e := range r.except {
		if dns.IsSubDomain(e, name) {
			return false
		}
	}
	return true
}

// announceForwarding says once, at start, what every forward line would
// have done and why it does not.
func announceForwarding(out io.Writer, file string, cfg *config) {
	seen := map[*plugins]bool{}
	for _, port := range sortedPorts(cfg) {
		for _, z := range cfg.ports[port] {
			if seen[z.plugins] {
				continue
			}
			seen[z.plugins] = true
			for _, r := range z.forward {
				fmt.Fprintf(out, "[WARNING] plugin/forward: %s:%d: forwarding %s to %s is disabled in the local cluster, which never sends DNS off the machine; queries for names under %s are answered REFUSED\n",
					file, r.line, r.from, strings.Join(r.upstreams, " "), r.from)
			}
		}
	}
}
