package gatewayapi

import (
	"slices"

	"github.com/edgeway/edgeway/controller/ir"
)

// routeTableMemo is a route table as the last translation built it: its
// shape (the listeners' hostname patterns and, per listener, the domains
// of its HTTP attachments, in order) and its virtual hosts in domain
// order. The shape alone decides which domains the table has and which
// attachments (by position) cover each: a change of one route that keeps
// its hostnames keeps the shape, and the next translation then takes the
// domains and covering lists from here instead of collecting, sorting and
// indexing 5000 domains again; only the routes are taken from the new
// attachments. Nothing here is written once recorded.
type routeTableMemo struct {
	patterns []string
	domains  [][]string
	vhosts   []tableVHost
}

// tableVHost is one virtual host of a route table: its domain, the
// attachments covering it (in the order a scan of the owner listeners
// finds them), and, once built, the templates its routes are clones of
// and the virtual host.
type tableVHost struct {
	domain    string
	covering  []attachmentPos
	templates []*ir.Route
	vh        *ir.VirtualHost
}

// attachmentPos is listeners[listener].http[attachment] of a route table.
type attachmentPos struct{ listener, attachment int32 }

// sameShape reports whether listeners have the shape m was built for.
func (m *routeTableMemo) sameShape(listeners []*listenerCtx) bool {
	if m == nil || len(m.patterns) != len(listeners) {
		return false
	}
	for i, l := range listeners {
		if pattern(l.hostname) != m.patterns[i] || len(l.http) != len(m.domains[i]) {
			return false
		}
		for j, a := range l.http {
			if a.domain != m.domains[i][j] {
				return false
			}
		}
	}
	return true
}

// tableShape computes the shape of listeners: their patterns and domains
// (recorded only with a Translator), and the table's virtual hosts (one
// per listener hostname and route domain, sorted) with the attachments
// covering each: those of the domain's owner listener(s) whose domain
// covers it.
func tableShape(listeners []*listenerCtx, record bool) *routeTableMemo {
	m := &routeTableMemo{}
	var patterns []string
	domains := map[string]bool{}
	for _, l := range listeners {
		p := pattern(l.hostname)
		patterns = append(patterns, p)
		domains[p] = true
		for _, a := range l.http {
			domains[a.domain] = true
		}
	}
	if record {
		m.patterns = patterns
		m.domains = make([][]string, len(listeners))
		for i, l := range listeners {
			ds := make([]string, len(l.http))
			for j, a := range l.http {
				ds[j] = a.domain
			}
			m.domains[i] = ds
		}
	}
	index := make([]httpAttachmentIndex, len(listeners))
	for i, l := range listeners {
		index[i] = indexHTTPAttachments(l.http)
	}
	// All covering lists in one array: most virtual hosts have one entry.
	var (
		all   []attachmentPos
		found []int
	)
	sorted := sortedKeys(domains)
	m.vhosts = make([]tableVHost, len(sorted))
	ends := make([]int, len(sorted))
	for k, d := range sorted {
		own := owner(patterns, d)
		for i, l := range listeners {
			if patterns[i] == own {
				found = index[i].covering(found[:0], l.http, d)
				for _, j := range found {
					all = append(all, attachmentPos{int32(i), int32(j)})
				}
			}
		}
		ends[k] = len(all)
	}
	start := 0
	for k, d := range sorted {
		m.vhosts[k] = tableVHost{domain: d, covering: all[start:ends[k]:ends[k]]}
		start = ends[k]
	}
	return m
}

// previousTableVHosts finds the last translation's virtual hosts of a
// route table by domain; both lists are sorted by domain, so a walk
// forward finds each.
type previousTableVHosts struct {
	list []tableVHost
	next int
}

func (p *previousTableVHosts) find(d string) (tableVHost, bool) {
	for p.next < len(p.list) && p.list[p.next].domain < d {
		p.next++
	}
	if p.next < len(p.list) && p.list[p.next].domain == d {
		p.next++
		return p.list[p.next-1], true
	}
	return tableVHost{}, false
}

// virtualHost is the virtual host of domain d serving clones of
// templates: prev's when prev serves the same templates (the same
// pointers in the same order: templates are never written and are kept
// alive by the Translator, so they are the same routes), else a new one.
// Nothing writes a virtual host once built (addHTTP01Routes copies the
// ones it adds to), so sharing it is safe. The returned templates are
// the virtual host's own (templates may be the caller's scratch space).
func virtualHost(d string, templates []*ir.Route, prev tableVHost, hasPrev bool) (*ir.VirtualHost, []*ir.Route) {
	if hasPrev && prev.vh != nil && slices.Equal(prev.templates, templates) {
		return prev.vh, prev.templates
	}
	vh := &ir.VirtualHost{Name: d, Domains: []string{d}, Routes: make([]*ir.Route, len(templates))}
	for i, r := range templates {
		vh.Routes[i] = cloneRoute(r)
	}
	return vh, slices.Clone(templates)
}
