package gatewayapi

import (
	"slices"
	"sort"

	"github.com/edgeway/edgeway/controller/ir"
)

// Naming scheme (deterministic, documented for the xDS translator and ops):
//
//	ir.Listener.Name                 "<address>:<port>"                   e.g. "0.0.0.0:80", "[::1]:80"
//	route table of a plain HTTP socket "<address>:<port>"                 (one per socket)
//	route table of an HTTPS chain    "<address>:<port>/https/<hostname>"  hostname "*" for a listener without hostname
//	TLS chain (HTTPS termination)    "https/<hostname>"
//	TLS chain (TLS passthrough)      "passthrough/<sni>"                  sni: the route/listener hostname intersection, "*" = any
//	TLS chain (TLS termination)      "tls/<sni>"                          as passthrough
//	TLS chain (refusing)             "refuse/<sni>"                       a listener hostname or route domain with nothing to serve
//	virtual host                     "<domain>"                           one domain per virtual host, "*" = any
//	route                            "<ns>/<route>/rule/<i>/match/<j>"
//	cluster                          "service/<ns>/<name>/<port>", "serviceentry/<ns>/<name>/<port>"
//	secret                           "<ns>/<name>"

// buildIR emits the sockets with everything they reference. Clusters and
// secrets are emitted only if some emitted route or chain references them.
func (t *translator) buildIR() *ir.IR {
	out := &ir.IR{}
	usedClusters := map[string]bool{}
	usedSecrets := map[string]bool{}
	names := make([]string, 0, len(t.sockets))
	for n := range t.sockets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := t.sockets[n]
		if len(s.listeners) == 0 {
			continue
		}
		l := &ir.Listener{Name: s.name, Address: s.address, Port: s.port, Gateways: s.gateways(), ProxyProtocol: s.proxyProtocol()}
		switch s.kind {
		case socketHTTP:
			rt := t.buildRouteTable(s.name, s.listeners)
			t.addHTTP01Routes(rt, s)
			out.RouteTables = append(out.RouteTables, rt)
			l.HTTP = &ir.HTTPChain{RouteTable: rt.Name, MaxRequestBodyBytes: s.maxRequestBody()}
		case socketTLS:
			for _, ls := range s.listeners {
				if ls.passthrough || ls.tlsTerminate || ls.acmePending() {
					continue // pending: no certificate yet, only challenge chains
				}
				rt := t.buildRouteTable(s.name+"/https/"+pattern(ls.hostname), []*listenerCtx{ls})
				out.RouteTables = append(out.RouteTables, rt)
				l.TLS = append(l.TLS, &ir.TLSChain{
					Name:        "https/" + pattern(ls.hostname),
					ServerNames: serverNames(pattern(ls.hostname)),
					Terminate:   &ir.TLSTerminate{Certificates: append([]string(nil), ls.certificates...), ClientValidation: ls.clientValidation, HTTP: &ir.HTTPChain{RouteTable: rt.Name, MaxRequestBodyBytes: ls.gw.maxRequestBody}},
				})
			}
			l.TLS = append(l.TLS, passthroughChains(s.listeners)...)
			l.TLS = append(l.TLS, terminateChains(s.listeners)...)
			l.TLS = append(l.TLS, refuseChains(s.listeners, l.TLS)...)
			l.TLS = append(l.TLS, t.tlsALPN01Chains(s, usedSecrets)...)
			markChainSecrets(l, usedSecrets)
			sort.SliceStable(l.TLS, func(i, j int) bool { return l.TLS[i].Name < l.TLS[j].Name })
			if onlyRefuses(l.TLS) {
				// Nothing to serve: not binding refuses every client too.
				continue
			}
		case socketTCP:
			chain := tcpChain(s.listeners)
			if chain == nil {
				// No usable route: nothing to proxy to, so do not bind.
				continue
			}
			l.TCP = chain
		case socketUDP:
			chain := t.udpChain(s.listeners)
			if chain == nil {
				continue
			}
			l.UDP = chain
		}
		out.Listeners = append(out.Listeners, l)
		markClusters(l, out.RouteTables, usedClusters)
	}
	sort.SliceStable(out.RouteTables, func(i, j int) bool { return out.RouteTables[i].Name < out.RouteTables[j].Name })
	for _, c := range sortedKeys(usedClusters) {
		if cl := t.clusters[c]; cl != nil {
			out.Clusters = append(out.Clusters, cl)
		}
	}
	// Upstream TLS needs the final cluster set and the Gateways using each.
	t.applyBackendTLS(out, usedSecrets)
	t.applyMeshTLS(out, usedSecrets)
	for _, s := range sortedKeys(usedSecrets) {
		if sec := t.certs[s]; sec != nil {
			out.Secrets = append(out.Secrets, sec)
		}
	}
	return out
}

func (s *socket) gateways() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range s.listeners {
		if !seen[l.gw.key] {
			seen[l.gw.key] = true
			out = append(out, l.gw.key)
		}
	}
	sort.Strings(out)
	return out
}

func serverNames(sni string) []string {
	if sni == anyHost {
		return nil
	}
	return []string{sni}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// markClusters records the clusters referenced by a listener's chains and by
// the route tables it uses.
func markClusters(l *ir.Listener, tables []*ir.RouteTable, used map[string]bool) {
	tableNames := map[string]bool{}
	if l.HTTP != nil {
		tableNames[l.HTTP.RouteTable] = true
	}
	for _, c := range l.TLS {
		if c.Terminate != nil && c.Terminate.HTTP != nil {
			tableNames[c.Terminate.HTTP.RouteTable] = true
		}
		if c.Passthrough != nil {
			for _, b := range c.Passthrough.Backends {
				used[b.Cluster] = true
			}
		}
		if c.Terminate != nil && c.Terminate.TCP != nil {
			for _, b := range c.Terminate.TCP.Backends {
				used[b.Cluster] = true
			}
		}
	}
	if l.TCP != nil {
		for _, b := range l.TCP.Backends {
			used[b.Cluster] = true
		}
	}
	if l.UDP != nil {
		for _, b := range l.UDP.Backends {
			used[b.Cluster] = true
		}
	}
	for _, rt := range tables {
		if !tableNames[rt.Name] {
			continue
		}
		markRouteClusters(rt, used)
	}
}

// markRouteClusters records the clusters rt's routes forward and mirror
// to. Routes in a row often name one cluster (thousands of routes to one
// Service): it is recorded once per run, not once per route.
func markRouteClusters(rt *ir.RouteTable, used map[string]bool) {
	last := ""
	mark := func(c string) {
		if c != last || last == "" {
			used[c] = true
			last = c
		}
	}
	for _, vh := range rt.VirtualHosts {
		for _, r := range vh.Routes {
			if r.Forward != nil {
				for _, b := range r.Forward.Backends {
					mark(b.Cluster)
				}
				for _, m := range r.Forward.Mirrors {
					mark(m.Cluster)
				}
			}
		}
	}
}

// owner is the listener pattern a host pattern d belongs to: the most
// specific listener hostname that covers it (listener isolation: a request
// is served only by the routes of the most specific matching listener).
// Returns "" if no listener covers d.
func owner(patterns []string, d string) string {
	best := ""
	for _, p := range patterns {
		if covers(p, d) && (best == "" || moreSpecific(p, best)) {
			best = p
		}
	}
	return best
}

// buildRouteTable builds the virtual hosts of HTTP listeners sharing one
// route table. Every listener hostname and every route domain gets its own
// virtual host, so that the data plane's domain selection (exact, longest
// wildcard, "*") picks the virtual host of the right listener. A virtual host
// holds the routes of its owner listener(s) whose domain covers it: the most
// specific domain first, then Gateway API precedence.
//
// With a Translator, a virtual host whose routes come from the same
// compiled templates, in the same order, as in the previous translation is
// that translation's virtual host (memo_table.go): equal to the one built here,
// without cloning its routes, and recognised by the publisher and the xDS
// server by identity.
func (t *translator) buildRouteTable(name string, listeners []*listenerCtx) *ir.RouteTable {
	var prev *routeTableMemo
	if t.memo != nil {
		prev = t.tablesPrev[name]
	}
	// A table of the previous translation's shape has its domains and
	// covering lists (memo_table.go); its virtual hosts are rebuilt below
	// from the new attachments, most of them as the previous ones.
	var shape *routeTableMemo
	if prev.sameShape(listeners) {
		shape = &routeTableMemo{patterns: prev.patterns, domains: prev.domains, vhosts: slices.Clone(prev.vhosts)}
	} else {
		shape = tableShape(listeners, t.memo != nil)
	}
	var previous previousTableVHosts
	if prev != nil {
		previous.list = prev.vhosts
	}
	rt := &ir.RouteTable{Name: name}
	// Scratch space reused from one virtual host to the next: thousands of
	// them per table, most with one route (virtualHost copies what it keeps).
	type entry struct {
		domain string
		m      *httpMatch
	}
	var (
		covering  []*httpAttachment
		entries   []entry
		templates []*ir.Route
	)
	rt.VirtualHosts = make([]*ir.VirtualHost, 0, len(shape.vhosts))
	for k := range shape.vhosts {
		tv := &shape.vhosts[k]
		d := tv.domain
		covering = covering[:0]
		for _, p := range tv.covering {
			covering = append(covering, listeners[p.listener].http[p.attachment])
		}
		// Most virtual hosts have one attachment (a route's own hostname):
		// nothing to deduplicate, no maps to build.
		entries = entries[:0]
		var seen map[string]bool
		if len(covering) > 1 {
			seen = map[string]bool{}
		}
		for _, a := range covering {
			if seen != nil {
				k := routeObjectKey(a.route) + "@" + a.domain
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			for _, m := range a.matches {
				entries = append(entries, entry{a.domain, m})
			}
		}
		if len(entries) > 1 {
			less := func(a, b entry) bool {
				if a.domain != b.domain {
					return moreSpecific(a.domain, b.domain)
				}
				return httpPrecedence(a.m, b.m)
			}
			// The order sort.SliceStable gave (the same algorithm), without
			// its reflection.
			slices.SortStableFunc(entries, func(a, b entry) int {
				switch {
				case less(a, b):
					return -1
				case less(b, a):
					return 1
				}
				return 0
			})
		}
		templates = templates[:0]
		var emitted map[*httpMatch]bool
		if len(covering) > 1 {
			emitted = map[*httpMatch]bool{}
		}
		for _, e := range entries {
			// A route reaching d through several of its hostnames counts once,
			// at its most specific hostname.
			if emitted != nil {
				if emitted[e.m] {
					continue
				}
				emitted[e.m] = true
			}
			templates = append(templates, e.m.ir)
		}
		p, ok := previous.find(d)
		tv.vh, tv.templates = virtualHost(d, templates, p, ok)
		rt.VirtualHosts = append(rt.VirtualHosts, tv.vh)
	}
	if t.memo != nil {
		t.memo.tables.cur[name] = shape
	}
	return rt
}

// httpAttachmentIndex finds the attachments of a listener whose domain
// covers a virtual host's domain without scanning them all: every route
// hostname is a virtual host, so a scan per virtual host is quadratic in
// the number of routes (5000 routes with their own hostnames: 25 million
// covers checks per translation).
type httpAttachmentIndex struct {
	exact     map[string][]int // attachment indexes by exact domain
	wildcards []int            // attachments of "*.suffix" and "*" domains
}

func indexHTTPAttachments(as []*httpAttachment) httpAttachmentIndex {
	x := httpAttachmentIndex{exact: map[string][]int{}}
	for j, a := range as {
		if a.domain == anyHost || isWildcard(a.domain) {
			x.wildcards = append(x.wildcards, j)
		} else {
			x.exact[a.domain] = append(x.exact[a.domain], j)
		}
	}
	return x
}

// covering appends to out the indexes of the attachments whose domain
// covers d, in attachment order (the order a scan would visit them).
func (x httpAttachmentIndex) covering(out []int, as []*httpAttachment, d string) []int {
	out = append(out, x.exact[d]...)
	for _, j := range x.wildcards {
		if covers(as[j].domain, d) {
			out = append(out, j)
		}
	}
	sort.Ints(out)
	return out
}

// passthroughChains builds one chain per SNI domain of the TLSRoutes on the
// socket's Passthrough listeners. A domain owned by an HTTPS listener (its
// hostname is more specific) gets no passthrough chain: those clients belong
// to the terminating listener. Among the routes covering a domain, the most
// specific domain wins, then the oldest route; if it has no backend with a
// weight, the domain gets a refusing chain.
func passthroughChains(listeners []*listenerCtx) []*ir.TLSChain {
	var patterns []string
	byPattern := map[string]*listenerCtx{}
	domains := map[string]bool{}
	for _, l := range listeners {
		p := pattern(l.hostname)
		patterns = append(patterns, p)
		byPattern[p] = l
		for _, a := range l.tls {
			domains[a.domain] = true
		}
	}
	var out []*ir.TLSChain
	for _, d := range sortedKeys(domains) {
		own := byPattern[owner(patterns, d)]
		if own == nil || !own.passthrough {
			continue
		}
		var best *tlsAttachment
		for _, a := range own.tls {
			if !covers(a.domain, d) {
				continue
			}
			if best == nil || moreSpecific(a.domain, best.domain) || (a.domain == best.domain && olderFirst(a.route, best.route)) {
				best = a
			}
		}
		if best == nil {
			continue
		}
		if !anyWeight(best.backends) {
			// The route owning d has no backend: refuse rather than let a
			// less specific chain serve d.
			out = append(out, refuseChain(d))
			continue
		}
		out = append(out, &ir.TLSChain{
			Name:        "passthrough/" + d,
			ServerNames: serverNames(d),
			Passthrough: &ir.TCPChain{Backends: append([]ir.WeightedCluster(nil), best.backends...)},
		})
	}
	return out
}

// refuseChains keeps listener isolation on a TLS socket. SNI selection (in
// Envoy and the data plane) takes the most specific server name and never
// falls back, and a listener hostname is only a server name if some chain
// of the listener uses it: a listener without an attached route (or whose
// routes have more specific hostnames) would leave its clients to a less
// specific chain of another listener, a wildcard passthrough say. So every
// listener hostname that no chain names exactly gets a refusing chain. A
// listener without hostname needs none: its clients that no chain matches
// get no chain at all.
func refuseChains(listeners []*listenerCtx, chains []*ir.TLSChain) []*ir.TLSChain {
	named := map[string]bool{}
	for _, c := range chains {
		for _, sn := range c.ServerNames {
			named[sn] = true
		}
	}
	var out []*ir.TLSChain
	for _, l := range listeners {
		p := pattern(l.hostname)
		if p == anyHost || named[p] {
			continue
		}
		named[p] = true
		out = append(out, refuseChain(p))
	}
	return out
}

func refuseChain(sni string) *ir.TLSChain {
	return &ir.TLSChain{Name: "refuse/" + sni, ServerNames: serverNames(sni), Refuse: true}
}

// onlyRefuses: no chain serves anything (also true for no chains).
func onlyRefuses(chains []*ir.TLSChain) bool {
	for _, c := range chains {
		if !c.Refuse {
			return false
		}
	}
	return true
}

// tcpChain proxies to the backends of the oldest TCPRoute on the socket's
// (single) TCP listener; TCP has no criteria to tell several routes apart.
func tcpChain(listeners []*listenerCtx) *ir.TCPChain {
	var best *tcpAttachment
	for _, l := range listeners {
		for _, a := range l.tcp {
			if best == nil || olderFirst(a.route, best.route) {
				best = a
			}
		}
	}
	if best == nil || !anyWeight(best.backends) {
		return nil
	}
	return &ir.TCPChain{Backends: append([]ir.WeightedCluster(nil), best.backends...)}
}
