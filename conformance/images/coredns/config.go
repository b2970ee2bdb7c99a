package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// defaultPort is the port of a zone written without one.
const defaultPort = 53

// Default addresses of the health and ready plugins (CoreDNS's).
const (
	defaultHealthAddr = ":8080"
	defaultReadyAddr  = ":8181"
)

// knownPlugins are the plugins this stand-in understands.
var knownPlugins = []string{"errors", "forward", "health", "log", "ready", "whoami"}

// config is a Corefile interpreted: the zones each port serves, and the
// health and ready endpoints.
type config struct {
	// ports maps a port to its zones, most specific first.
	ports map[int][]*zone
	// health and ready are the addresses of those HTTP endpoints (empty:
	// not enabled).
	health, ready string
}

// zone is one zone of a server block. The zones of one block share its
// plugins, as in CoreDNS.
type zone struct {
	name string // lower-case, fully qualified
	port int
	*plugins
	line int
}

// plugins are the plugins of a server block that act on queries. Their
// order is CoreDNS's (its plugin.cfg), not the Corefile's: errors, log,
// forward, whoami.
type plugins struct {
	errors  bool
	log     bool
	forward []forwardRule
	whoami  bool
}

// forwardRule is a forward line: queries under from would go to the
// upstreams, which the local cluster never does (see forward.go).
type forwardRule struct {
	from      string
	except    []string
	upstreams []string
	line      int
}

// buildConfig interprets the server blocks. portOverride, when not 0,
// replaces the port of every zone.
func buildConfig(file string, blocks []serverBlock, portOverride int) (*config, error) {
	cfg := &config{ports: map[int][]*zone{}}
	seen := map[string]int{} // "zone:port" -> line
	for _, b := range blocks {
		pl := &plugins{}
		for _, d := range b.directives {
			if err := cfg.addPlugin(file, pl, d); err != nil {
				return nil, err
			}
		}
		for _, k := range b.keys {
			name, port, err := parseKey(k.text)
			if err != nil {
				return nil, &parseError{file, k.line, err.Error()}
			}
			if portOverride != 0 {
				port = portOverride
			}
			id := name + ":" + strconv.Itoa(port)
			if line, dup := seen[id]; dup {
				return nil, &parseError{file, k.line, fmt.Sprintf("zone %s on port %d is already served by the block at line %d: merge the two blocks", name, port, line)}
			}
			seen[id] = k.line
			cfg.ports[port] = append(cfg.ports[port], &zone{name: name, port: port, plugins: pl, line: k.line})
		}
	}
	for _, zones := range cfg.ports {
		sort.SliceStable(zones, func(i, j int) bool {
			return dns.CountLabel(zones[i].name) > dns.CountLabel(zones[j].name)
		})
	}
	return cfg, nil
}

// addPlugin checks one plugin line and records it.
func (cfg *config) addPlugin(file string, pl *plugins, d directive) error {
	bad := func(format string, a ...any) error {
		return &parseError{file, d.line, d.name + ": " + fmt.Sprintf(format, a...)}
	}
	noOptions := func() error {
		if len(d.options) > 0 {
			return bad("takes no block, found %q", strings.Join(d.options[0], " "))
		}
		return nil
	}
	switch d.name {
	case "whoami":
		if len(d.args) > 0 {
			return bad("takes no arguments, found %q", strings.Join(d.args, " "))
		}
		pl.whoami = true
		return noOptions()
	case "log":
		// Names and formats narrow what CoreDNS logs; every query is
		// logged here, in CoreDNS's default format.
		pl.log = true
		return nil
	case "errors":
		pl.errors = true
		return nil
	case "forward":
		return addForward(file, pl, d)
	case "health", "ready":
		if len(d.args) > 1 {
			return bad("takes at most one address, found %q", strings.Join(d.args, " "))
		}
		addr := defaultHealthAddr
		if d.name == "ready" {
			addr = defaultReadyAddr
		}
		if len(d.args) == 1 {
			addr = d.args[0]
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return bad("address %q is not host:port (%v)", addr, err)
		}
		target := &cfg.health
		if d.name == "ready" {
			target = &cfg.ready
		}
		if *target != "" && *target != addr {
			return bad("already enabled on %s in another block: one address per process", *target)
		}
		*target = addr
		if d.name == "ready" {
			return noOptions()
		}
		for _, o := range d.options {
			if o[0] != "lameduck" || len(o) != 2 {
				return bad("unknown option %q (known: lameduck DURATION)", strings.Join(o, " "))
			}
		}
		return nil
	}
	if strings.HasPrefix(d.name, "(") || d.name == "import" {
		return bad("snippets and imports are not supported by this stand-in for CoreDNS")
	}
	return &parseError{file, d.line, fmt.Sprintf("unknown plugin %q: this stand-in for CoreDNS knows %s", d.name, strings.Join(knownPlugins, ", "))}
}

// parseKey reads a server block key: [dns://]zone[:port].
func parseKey(key string) (string, int, error) {
	if scheme, rest, ok := strings.Cut(key, "://"); ok {
		if scheme != "dns" {
			return "", 0, fmt.Errorf("zone %q: only plain DNS (dns://) is served by this stand-in for CoreDNS", key)
		}
		key = rest
	}
	host, port := key, defaultPort
	if i := strings.LastIndex(key, ":"); i >= 0 {
		p, err := strconv.Atoi(key[i+1:])
		if err != nil || p < 1 || p > 65535 {
			return "", 0, fmt.Errorf("zone %q: port %q is not a number from 1 to 65535", key, key[i+1:])
		}
		host, port = key[:i], p
	}
	if strings.Contains(host, "/") {
		return "", 0, fmt.Errorf("zone %q: reverse zones written as CIDR are not supported by this stand-in for CoreDNS; write the in-addr.arpa zone", key)
	}
	name := dns.Fqdn(strings.ToLower(host))
	if _, ok := dns.IsDomainName(name); !ok || host == "" {
		return "", 0, fmt.Errorf("zone %q is not a domain name", key)
	}
	return name, port, nil
}

// match returns the most specific zone of zones (sorted most specific
// first) that name is in, or nil (CoreDNS answers REFUSED then).
func match(zones []*zone, name string) *zone {
	for _, z := range zones {
		if dns.IsSubDomain(z.name, name) {
			return z
		}
	}
	return nil
}
