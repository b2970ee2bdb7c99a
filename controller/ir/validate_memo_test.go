package ir

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// manyVHosts is valid() with n more virtual hosts in its route table, all
// in name order, each its name's only domain, as the Gateway API
// translator makes them.
func manyVHosts(n int) *IR {
	x := valid()
	rt := x.RouteTables[0]
	rt.VirtualHosts[0].Name = "*" // its domain
	for i := range n {
		name := fmt.Sprintf("h%03d.example.com", i)
		rt.VirtualHosts = append(rt.VirtualHosts, &VirtualHost{Name: name, Domains: []string{name}, Routes: []*Route{
			{Name: name + "/r", Match: RouteMatch{Path: &PathMatch{Type: PathPrefix, Value: "/"}}, Forward: &Forward{Backends: []WeightedCluster{{Cluster: "c", Weight: 1}}}},
		}})
	}
	return x
}

// next is x with a new route table holding vhosts, sharing everything
// else (x is not written).
func next(x *IR, vhosts []*VirtualHost) *IR {
	out := *x
	rt := *x.RouteTables[0]
	rt.VirtualHosts = vhosts
	out.RouteTables = []*RouteTable{&rt}
	return &out
}

// TestValidateFromIsValidate: after an IR passed, its successors (the same
// virtual hosts, with one edit each) get from ValidateFrom exactly
// Validate's result, whether the edit is in a virtual host it spares or
// across them: a cluster gone under unchanged virtual hosts, a virtual
// host replaced by an invalid one, listed twice, a second one claiming a
// domain, the virtual hosts out of name order; and it spares the
// unchanged virtual hosts when nothing they read changed.
func TestValidateFromIsValidate(t *testing.T) {
	base := manyVHosts(20)
	prev, err := base.ValidateFrom(nil)
	if err != nil {
		t.Fatal(err)
	}
	vhs := base.RouteTables[0].VirtualHosts
	bad := &VirtualHost{Name: vhs[5].Name, Domains: vhs[5].Domains, Routes: []*Route{
		{Name: "bad", Match: RouteMatch{Path: &PathMatch{Type: PathRegex, Value: "(["}}, Forward: &Forward{Backends: []WeightedCluster{{Cluster: "c", Weight: 1}}}},
	}}
	claims := &VirtualHost{Name: "zzz", Domains: []string{vhs[3].Name}, Routes: vhs[3].Routes}
	withoutC := next(base, vhs)
	withoutC.Clusters = []*Cluster{{Name: "d", Discovery: DiscoveryEDS}}
	cases := []struct {
		name   string
		x      *IR
		spares bool
		err    string // what the error says; "": none
	}{
		{"unchanged", next(base, slices.Clone(vhs)), true, ""},
		{"cluster c gone", withoutC, false, `cluster "c" does not exist`},
		{"a virtual host replaced by an invalid one", next(base, slices.Concat(vhs[:5], []*VirtualHost{bad}, vhs[6:])), true, "regex"},
		{"a virtual host listed twice", next(base, slices.Concat(vhs[:5], vhs[4:])), true, "duplicate virtual host name"},
		{"a virtual host with a second domain", next(base, slices.Concat(vhs[:5], []*VirtualHost{{Name: vhs[5].Name, Domains: []string{vhs[5].Name, vhs[6].Name}, Routes: vhs[5].Routes}}, vhs[6:])), true, `"h005.example.com" already used by virtual host "h004.example.com"`},
		{"a domain claimed twice", next(base, append(slices.Clone(vhs), claims)), true, `"h002.example.com" already used by virtual host`},
		{"out of order", next(base, slices.Concat(vhs[10:], vhs[:10])), true, ""},
		{"one removed", next(base, slices.Delete(slices.Clone(vhs), 7, 8)), true, ""},
	}
	for _, c := range cases {
		verr := c.x.Validate()
		if (verr == nil) != (c.err == "") || verr != nil && !strings.Contains(verr.Error(), c.err) {
			t.Errorf("%s: Validate says %v; want an error saying %q", c.name, verr, c.err)
		}
		want := fmt.Sprint(verr)
		rec, err := c.x.ValidateFrom(prev)
		if got := fmt.Sprint(err); got != want {
			t.Errorf("%s: ValidateFrom says %s; Validate says %s", c.name, got, want)
		}
		if (err == nil) != (rec != nil) {
			t.Errorf("%s: ValidateFrom returned a record %v with error %v", c.name, rec != nil, err)
		}
		if spared := sparedBy(c.x, prev); (spared > 0) != c.spares {
			t.Errorf("%s: ValidateFrom spared %d virtual hosts; want some: %v", c.name, spared, c.spares)
		}
	}
}

// sparedBy is how many virtual hosts of x a validation from prev spares.
func sparedBy(x *IR, prev *Validated) int {
	v := &validator{routeTables: map[string]bool{}, clusters: map[string]bool{}, secrets: map[string]bool{}, prev: prev.forClusters(x.Clusters)}
	for _, c := range x.Clusters {
		v.clusters[c.Name] = true
	}
	for _, rt := range x.RouteTables {
		v.routeTable(rt)
	}
	return v.reused
}
