package config

import (
	"fmt"
	"maps"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// indexHosts fills t.hosts from t.VirtualHosts (of the messages pvhs) and
// returns the error of the first domain used twice. With prev, the table of
// the same name the last compile made, it starts from a copy of prev's
// exact names and changes only those of the virtual hosts that are not the
// ones of prev (a Compiler's unchanged virtual hosts are the same objects),
// in a small map of changes over prev's, which is shared: at 5000 virtual
// hosts, adding every name to a new map was the largest part of a route
// change left. The result is the same as adding every name
// anew; whenever it might not be (many changes, a name taken twice), it is
// done that way.
func indexHosts(rep reporter, t *RouteTable, pvhs []*routev3.VirtualHost, prev *RouteTable) error {
	if prev == nil || !indexHostsFrom(t, prev) {
		return indexHostsAnew(rep, t, pvhs, len(t.VirtualHosts))
	}
	return nil
}

// indexHostsAnew adds the names of the first n virtual hosts to a new
// index, in order.
func indexHostsAnew(rep reporter, t *RouteTable, pvhs []*routev3.VirtualHost, n int) error {
	t.hosts = hostTable[*VirtualHost]{exact: make(map[string]*VirtualHost, len(t.VirtualHosts))}
	for i, vh := range t.VirtualHosts[:n] {
		for j, d := range vh.Domains {
			if !t.hosts.addLower(d, vh) { // compileVirtualHost lower-cased it
				return rep.errf(fmt.Sprintf("%s.domains[%d]", vhostLoc(i), j), "domain %q is used by more than one virtual host", pvhs[i].GetDomains()[j])
			}
		}
	}
	t.hosts.seal()
	return nil
}

// indexHostsFrom is indexHosts from prev; false when it did not index
// (the caller then adds every name anew, which finds any error).
func indexHostsFrom(t *RouteTable, prev *RouteTable) bool {
	vhs, old := t.VirtualHosts, prev.VirtualHosts
	kept := make([]bool, len(old))
	var added []int
	var al aligner
	same := func(i, j int) bool { return vhs[i] == old[j] }
	for i := range vhs {
		if j := al.match(i, len(vhs), len(old), same); j >= 0 {
			kept[j] = true
			continue
		}
		added = append(added, i)
		if len(added) > len(vhs)/8+8 {
			return false // cheaper anew
		}
	}
	// prev's exact names stay as they are, shared; the changes go to a
	// copy of prev's (few) changes. Too many of them, and a new index
	// is cheaper to look up in.
	h := hostTable[*VirtualHost]{exact: prev.hosts.exact, changed: maps.Clone(prev.hosts.changed)}
	if h.changed == nil {
		h.changed = map[string]hostChange[*VirtualHost]{}
	}
	for j, k := range kept {
		if k {
			continue
		}
		for _, d := range old[j].Domains {
			if v, ok := h.exactName(d); !ok || v != old[j] {
				continue // a wildcard, or not its name
			}
			if _, shared := h.exact[d]; shared {
				h.changed[d] = hostChange[*VirtualHost]{gone: true}
			} else {
				delete(h.changed, d)
			}
		}
	}
	for _, i := range added {
		for _, d := range vhs[i].Domains {
			if hostPatternName(d) {
				continue
			}
			if _, taken := h.exactName(d); taken {
				return false
			}
			h.changed[d] = hostChange[*VirtualHost]{val: vhs[i]}
		}
	}
	if len(h.changed) > len(h.exact)/8+64 {
		return false
	}
	// The wildcards and the catch-all are few: added anew, in order.
	t.hosts = h
	for _, vh := range vhs {
		for _, d := range vh.Domains {
			if hostPatternName(d) && !t.hosts.addLower(d, vh) {
				return false
			}
		}
	}
	t.hosts.seal()
	return true
}

// hostPatternName reports whether hostTable.add takes name as a wildcard
// or the catch-all rather than an exact name.
func hostPatternName(name string) bool {
	return name == "" || name[0] == '*' || name[len(name)-1] == '*'
}
