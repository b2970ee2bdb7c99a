package acme

import (
	"sort"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/cloudflare"
	"github.com/go-acme/lego/v4/providers/dns/digitalocean"
	"github.com/go-acme/lego/v4/providers/dns/exec"
	"github.com/go-acme/lego/v4/providers/dns/httpreq"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
)

// The DNS providers built into edgeway.
//
// lego's aggregator package (providers/dns) imports all ~180 providers and
// their cloud SDKs; edgeway registers a curated set instead, each by its own
// package. Measured cold compile cost on top of the rest of this package
// (fresh GOCACHE, `go build ./certs/acme/`, CPU seconds user+sys on the
// 2-core development machine):
//
//	httpreq, rfc2136, exec, cloudflare, digitalocean   small (lego's own HTTP clients; rfc2136 adds miekg/dns TSIG and Kerberos)
//	route53 (AWS SDK v2)                                MEASURE
//	gcloud (google.golang.org/api/dns/v1, oauth2)      MEASURE
//
// To add a provider: import github.com/go-acme/lego/v4/providers/dns/<name>,
// add an entry below with the environment variable prefixes the provider
// reads (its envNamespace, and alternative names it falls back to; every
// credentials key must start with one of them, and those variables of the
// process are hidden while it is built), measure the cold build as above
// and note it here. Users name the provider in spec.dns01.provider with
// lego's name (https://go-acme.github.io/lego/dns/) and put the provider's
// lego environment variables into the credentials Secret.

// dnsProviderInfo is one built-in DNS provider.
type dnsProviderInfo struct {
	// env are the prefixes of the environment variables the provider reads.
	env []string
	// new builds the provider from the environment (lego's NewDNSProvider).
	new func() (challenge.Provider, error)
	// runsCommands: the provider executes a program given in its settings;
	// only allowed with Options.AllowExecDNSProvider.
	runsCommands bool
}

var dnsProviders = map[string]dnsProviderInfo{
	"httpreq": {env: []string{"HTTPREQ_"}, new: func() (challenge.Provider, error) { return httpreq.NewDNSProvider() }},
	"rfc2136": {env: []string{"RFC2136_", "DNSUPDATE_"}, new: func() (challenge.Provider, error) { return rfc2136.NewDNSProvider() }},
	"exec": {env: []string{"EXEC_"}, runsCommands: true,
		new: func() (challenge.Provider, error) { return exec.NewDNSProvider() }},
	"cloudflare":   {env: []string{"CLOUDFLARE_", "CF_"}, new: func() (challenge.Provider, error) { return cloudflare.NewDNSProvider() }},
	"digitalocean": {env: []string{"DO_"}, new: func() (challenge.Provider, error) { return digitalocean.NewDNSProvider() }},
	"route53":      {env: []string{"AWS_"}, new: newRoute53},
}

// dnsProviderAliases are lego's other names of the providers above.
var dnsProviderAliases = map[string]string{
	"dnsupdate": "rfc2136",
}

func lookupDNSProvider(name string) (dnsProviderInfo, bool) {
	if n, ok := dnsProviderAliases[name]; ok {
		name = n
	}
	info, ok := dnsProviders[name]
	return info, ok
}

// dnsProviderNames lists the built-in providers, sorted.
func dnsProviderNames() []string {
	out := make([]string, 0, len(dnsProviders))
	for n := range dnsProviders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
