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

// The DNS providers built into edgeway: httpreq, rfc2136 (alias
// dnsupdate), exec (only with Options.AllowExecDNSProvider), cloudflare,
// digitalocean, route53.
//
// lego's aggregator package (providers/dns) imports all ~180 providers and
// their cloud SDKs; edgeway registers a curated set instead, each by its own
// package. Cold compile cost, measured with a fresh GOCACHE (`GOCACHE=$(mktemp
// -d) go build`) of a program importing lego, the providers, client_golang
// and k8s.io/api (what this package needs), as CPU seconds (user+sys; wall
// time is meaningless on the shared 2-core machine):
//
//	lego core + httpreq                         105.8 s  349 packages (the baseline)
//	+ rfc2136                                   +3.5 s   +54 (miekg/dns TSIG, gokrb5 for GSS-TSIG)
//	+ exec, cloudflare, digitalocean            +0.7 s   +9  (lego's own HTTP clients)
//	+ route53                                   +24.6 s  +82 (AWS SDK v2: config, sts, sso, route53)   kept
//	+ gcloud                                    +44.7 s  +189 (google.golang.org/api/dns/v1, oauth2,   left out
//	                                                          cloud.google.com/go/auth, grpc credentials)
//
// route53 is kept: it is the most asked-for provider and costs about a
// quarter of the baseline. gcloud is left out: it costs almost half the
// baseline again, and without a service account key in the Secret it
// falls back to the controller's ambient Google identity (the metadata
// server), which an issuer must never get.
//
// To add a provider: import github.com/go-acme/lego/v4/providers/dns/<name>
// (`go get` that package at lego's version so go.sum has its modules),
// add an entry below with the prefixes of the environment variables the
// provider reads (its envNamespace, and any alternative names it falls back
// to): every credentials key must start with one of them, and those
// variables of the process are hidden while the provider is built. If the
// provider's SDK has ambient credentials (instance metadata, home
// directory files), build its Config explicitly as newRoute53 does. Measure
// the cold build as above and note it here. Users name the provider in
// spec.dns01.provider with lego's name (https://go-acme.github.io/lego/dns/)
// and put its lego environment variables into the credentials Secret.

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
