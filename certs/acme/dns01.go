package acme

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/miekg/dns"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// defaultPropagationTimeout bounds the wait for a TXT record when the
// issuer does not say (the CRD documents 2m).
const defaultPropagationTimeout = 2 * time.Minute

// dns01Lock serializes DNS-01 orders in the process: lego keeps the
// resolvers of the propagation check (and its zone cache) in package
// variables, so two orders with different spec.dns01.nameservers must not
// overlap.
var dns01Lock = make(chan struct{}, 1)

func lockDNS01(ctx context.Context) (func(), error) {
	select {
	case dns01Lock <- struct{}{}:
		return func() { <-dns01Lock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// envMu serializes the constructions of DNS providers, which read their
// configuration from the process environment.
var envMu sync.Mutex

// newDNSProvider builds the issuer's lego DNS provider from the credentials
// Secret only: while the provider reads its configuration, its environment
// variable namespaces hold exactly the Secret's keys (the process's own
// values are hidden, then restored).
func newDNSProvider(d *v1alpha1.ACMEDNS01, credentials map[string]string, allowExec bool) (challenge.Provider, error) {
	info, ok := lookupDNSProvider(d.Provider)
	if !ok {
		return nil, fmt.Errorf("spec.dns01.provider: %q is not built into edgeway (built in: %s); see certs/acme/dnsproviders.go to add a lego provider",
			d.Provider, strings.Join(dnsProviderNames(), ", "))
	}
	if info.runsCommands && !allowExec {
		return nil, fmt.Errorf("spec.dns01.provider: %q runs a program inside the controller and is disabled here; use another DNS provider", d.Provider)
	}
	keys := make([]string, 0, len(credentials))
	for k := range credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !hasAnyPrefix(k, info.env) {
			return nil, fmt.Errorf("spec.dns01.credentialsSecretRef: key %s is not a variable of DNS provider %s (its variables start with %s)",
				k, d.Provider, strings.Join(info.env, " or "))
		}
	}
	p, err := withEnv(info.env, credentials, info.new)
	if err != nil {
		return nil, fmt.Errorf("DNS provider %s: %w (its settings come from spec.dns01.credentialsSecretRef, one key per lego environment variable)", d.Provider, err)
	}
	timeout := defaultPropagationTimeout
	if d.PropagationTimeout != nil && d.PropagationTimeout.Duration > 0 {
		timeout = d.PropagationTimeout.Duration
	}
	interval := dns01.DefaultPollingInterval
	if pt, ok := p.(challenge.ProviderTimeout); ok {
		if _, i := pt.Timeout(); i > 0 {
			interval = i
		}
	}
	tp := timedProvider{Provider: p, timeout: timeout, interval: interval}
	if s, ok := p.(sequentialProvider); ok {
		return timedSequentialProvider{timedProvider: tp, seq: s}, nil
	}
	return tp, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// withEnv runs build with the variables of namespaces set to exactly vars.
func withEnv(namespaces []string, vars map[string]string, build func() (challenge.Provider, error)) (challenge.Provider, error) {
	envMu.Lock()
	defer envMu.Unlock()
	saved := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if hasAnyPrefix(k, namespaces) {
			saved[k] = v
			os.Unsetenv(k)
		}
	}
	defer func() {
		// Everything in the namespaces goes, also what build set itself.
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); hasAnyPrefix(k, namespaces) {
				os.Unsetenv(k)
			}
		}
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}()
	for k, v := range vars {
		os.Setenv(k, v)
	}
	return build()
}

// timedProvider applies spec.dns01.propagationTimeout.
type timedProvider struct {
	challenge.Provider
	timeout, interval time.Duration
}

func (p timedProvider) Timeout() (time.Duration, time.Duration) { return p.timeout, p.interval }

// sequentialProvider is lego's (unexported) interface of providers that
// must solve one domain at a time.
type sequentialProvider interface{ Sequential() time.Duration }

type timedSequentialProvider struct {
	timedProvider
	seq sequentialProvider
}

func (p timedSequentialProvider) Sequential() time.Duration { return p.seq.Sequential() }

// dns01Options configures lego's propagation check: with nameservers, the
// TXT record must be visible on those resolvers (no authoritative check:
// they are what the user trusts, and the authoritative servers may not be
// reachable from the cluster); without, lego's default check against the
// system resolvers. lego keeps the resolvers in a package variable, so
// they are always set (callers hold dns01Lock). The check stops when ctx
// ends.
func dns01Options(ctx context.Context, d *v1alpha1.ACMEDNS01) []dns01.ChallengeOption {
	opts := []dns01.ChallengeOption{
		dns01.WrapPreCheck(func(_, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
			if err := ctx.Err(); err != nil {
				return true, err
			}
			return check(fqdn, value)
		}),
	}
	if len(d.Nameservers) > 0 {
		return append(opts,
			dns01.AddRecursiveNameservers(d.Nameservers),
			dns01.DisableAuthoritativeNssPropagationRequirement(),
			dns01.RecursiveNSsPropagationRequirement())
	}
	return append(opts, dns01.AddRecursiveNameservers(systemNameservers()))
}

// systemNameservers are lego's defaults: the resolvers of
// /etc/resolv.conf, else Google's public ones.
func systemNameservers() []string {
	if cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cfg.Servers) > 0 {
		out := make([]string, 0, len(cfg.Servers))
		for _, s := range cfg.Servers {
			out = append(out, net.JoinHostPort(s, cfg.Port))
		}
		return out
	}
	return []string{"google-public-dns-a.google.com:53", "google-public-dns-b.google.com:53"}
}
