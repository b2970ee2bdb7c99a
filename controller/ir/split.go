package ir

import "sort"

// SplitByGateway cuts x into one IR per Gateway ("<ns>/<name>"): the
// listeners that Gateway contributes to, and exactly the route tables,
// clusters and secrets those listeners reference, in x's order. It is meant
// for an IR translated with Snapshot.IsolateGateways, where every listener
// belongs to one Gateway; a listener shared by several Gateways (file mode)
// would be copied into each of them.
//
// The result shares the unchanged objects with x (treat both as read-only);
// a cluster whose client certificate depends on the Gateway
// (UpstreamTLS.ClientCertificateByGateway) is copied with that Gateway's
// certificate as ClientCertificate. A Gateway without listeners in x has no
// entry: its data plane gets an empty IR from the caller.
func SplitByGateway(x *IR) map[string]*IR {
	out := map[string]*IR{}
	if x == nil {
		return out
	}
	for _, l := range x.Listeners {
		if l == nil {
			continue
		}
		for _, g := range l.Gateways {
			if out[g] == nil {
				out[g] = &IR{}
			}
			out[g].Listeners = append(out[g].Listeners, l)
		}
	}
	for g, part := range out {
		fillReferenced(x, g, part)
	}
	return out
}

// fillReferenced adds to part (holding Gateway g's listeners) the route
// tables, clusters and secrets its listeners reference, directly or through
// route tables and clusters.
func fillReferenced(x *IR, g string, part *IR) {
	tables, clusters, secrets := map[string]bool{}, map[string]bool{}, map[string]bool{}
	weighted := func(ws []WeightedCluster) {
		for _, w := range ws {
			clusters[w.Cluster] = true
		}
	}
	for _, l := range part.Listeners {
		if l.HTTP != nil {
			tables[l.HTTP.RouteTable] = true
		}
		for _, c := range l.TLS {
			if c == nil {
				continue
			}
			if c.Passthrough != nil {
				weighted(c.Passthrough.Backends)
			}
			if c.ACMEChallenge != nil {
				secrets[c.ACMEChallenge.Certificate] = true
			}
			if t := c.Terminate; t != nil {
				for _, s := range t.Certificates {
					secrets[s] = true
				}
				if t.ClientValidation != nil {
					secrets[t.ClientValidation.CACertificates] = true
				}
				if t.HTTP != nil {
					tables[t.HTTP.RouteTable] = true
				}
				if t.TCP != nil {
					weighted(t.TCP.Backends)
				}
			}
		}
		if l.TCP != nil {
			weighted(l.TCP.Backends)
		}
		if l.UDP != nil {
			weighted(l.UDP.Backends)
		}
	}
	for _, rt := range x.RouteTables {
		if rt == nil || !tables[rt.Name] {
			continue
		}
		part.RouteTables = append(part.RouteTables, rt)
		for _, vh := range rt.VirtualHosts {
			for _, r := range vh.Routes {
				if r != nil && r.Forward != nil {
					weighted(r.Forward.Backends)
					for _, m := range r.Forward.Mirrors {
						clusters[m.Cluster] = true
					}
				}
			}
		}
	}
	for _, c := range x.Clusters {
		if c == nil || !clusters[c.Name] {
			continue
		}
		c = clusterFor(c, g)
		if c.TLS != nil {
			if c.TLS.CACertificates != "" {
				secrets[c.TLS.CACertificates] = true
			}
			if c.TLS.ClientCertificate != "" {
				secrets[c.TLS.ClientCertificate] = true
			}
		}
		part.Clusters = append(part.Clusters, c)
	}
	for _, s := range x.Secrets {
		if s != nil && secrets[s.Name] {
			part.Secrets = append(part.Secrets, s)
		}
	}
}

// clusterFor is c as Gateway g's data plane sees it: with g's own client
// certificate when the certificate depends on the Gateway.
func clusterFor(c *Cluster, g string) *Cluster {
	if c.TLS == nil || c.TLS.ClientCertificateByGateway == nil {
		return c
	}
	cc := *c
	tls := *c.TLS
	tls.ClientCertificate = c.TLS.ClientCertificateByGateway[g]
	tls.ClientCertificateByGateway = nil
	if tls.ClientCertificate == "" && tls.ClientCertificateRequired {
		cc.Endpoints = nil
	}
	tls.ClientCertificateRequired = false
	cc.TLS = &tls
	return &cc
}

// Gateways returns the sorted keys of a split.
func Gateways(parts map[string]*IR) []string {
	out := make([]string, 0, len(parts))
	for g := range parts {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
