package ir

import "slices"

// Validated records an IR that passed Validate, for the next validation
// of its successor (ValidateFrom): at thousands of virtual hosts, most of
// them the same objects from one translation to the next, checking each
// route of each again was most of a validation. Its virtual hosts must
// not be written afterwards (nothing writes an IR once built).
type Validated struct {
	// clusters are the IR's cluster names in order: a virtual host's
	// checks read nothing else outside it (its backends must exist).
	clusters []string
	// tables are each route table's virtual hosts, by name.
	tables map[string][]*VirtualHost
}

// ValidateFrom is Validate, sparing the checks of a virtual host of their
// own (its domains' syntax, its routes) when prev, the record of an
// earlier IR that passed, holds the same object in the route table of
// the same name and the cluster names are the same; names and domains
// taken twice are checked across every virtual host as always. The
// result is Validate's, error for error. It returns the record of x when
// x passes, else nil.
func (x *IR) ValidateFrom(prev *Validated) (*Validated, error) {
	if err := x.validate(prev); err != nil {
		return nil, err
	}
	rec := &Validated{clusters: make([]string, len(x.Clusters)), tables: make(map[string][]*VirtualHost, len(x.RouteTables))}
	for i, c := range x.Clusters {
		rec.clusters[i] = c.Name
	}
	for _, rt := range x.RouteTables {
		rec.tables[rt.Name] = rt.VirtualHosts
	}
	return rec, nil
}

// forClusters is p when clusters have p's names in p's order, else nil.
func (p *Validated) forClusters(clusters []*Cluster) *Validated {
	if p == nil || !slices.EqualFunc(p.clusters, clusters, func(name string, c *Cluster) bool { return c != nil && c.Name == name }) {
		return nil
	}
	return p
}

// passed are the virtual hosts of route table name that passed.
func (p *Validated) passed(name string) *passedVHosts {
	if p == nil {
		return nil
	}
	return &passedVHosts{list: p.tables[name]}
}

// passedVHosts finds virtual hosts in a list that passed, walking it
// forward by name beside the new list: both are in the same order when
// they come from the Gateway API translator (by name); otherwise a
// virtual host is merely checked again.
type passedVHosts struct {
	list []*VirtualHost
	next int
}

func (p *passedVHosts) find(vh *VirtualHost) bool {
	if p == nil {
		return false
	}
	for p.next < len(p.list) {
		c := p.list[p.next]
		if c == vh {
			p.next++
			return true
		}
		if c == nil || c.Name < vh.Name {
			p.next++
			continue
		}
		return false
	}
	return false
}

// namesInOrder: every virtual host has a name greater than the previous
// one's and that name as its only domain, so no name or domain is taken
// twice.
func namesInOrder(vhosts []*VirtualHost) bool {
	last := ""
	for i, vh := range vhosts {
		if vh == nil || len(vh.Domains) != 1 || vh.Domains[0] != vh.Name || (i > 0 && vh.Name <= last) {
			return false
		}
		last = vh.Name
	}
	return true
}
