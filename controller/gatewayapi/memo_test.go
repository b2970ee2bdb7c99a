package gatewayapi

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorEqualsTranslate: over every golden input and a sequence
// of random edits of it (an HTTPRoute changed, added or deleted; a
// Service's port changed or the Service deleted; an EndpointSlice
// deleted; a Gateway listener's hostname, port, allowed namespaces (All,
// a label selector) or allowed kinds changed; a ReferenceGrant deleted
// or one added; a Namespace's labels changed; a ListenerSet's listener
// changed or the ListenerSet deleted; an EndpointSlice's, a Service's or a
// ServiceEntry's content changed under unchanged routes; nothing changed,
// the same objects in new lists), a Translator's output equals
// Translate's for every Snapshot of the sequence, IR and statuses byte
// for byte. Edits copy what they change and keep every other object, as
// the Kubernetes source does. It also fails if the Translator never
// reused a compilation or an attachment, or never took a compilation
// without replaying it (every dependency unchanged, memo_routes.go),
// which would make the comparison vacuous.
func TestTranslatorEqualsTranslate(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	var total reuses
	for i, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			total.add(checkEditSequence(t, loadVersioned(t, in), uint64(i), 40))
		})
	}
	if total.compiled == 0 || total.attached == 0 || total.fast == 0 {
		t.Fatalf("the Translator reused %d compiled HTTPRoutes (%d without replay) and %d attachments: the comparison proves nothing", total.compiled, total.fast, total.attached)
	}
}

// FuzzTranslatorEqualsTranslate is TestTranslatorEqualsTranslate with the
// golden input and the edits chosen by the fuzzer.
func FuzzTranslatorEqualsTranslate(f *testing.F) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		f.Fatalf("no golden inputs: %v", err)
	}
	f.Add(uint8(0), uint64(1))
	f.Add(uint8(7), uint64(42))
	f.Fuzz(func(t *testing.T, input uint8, seed uint64) {
		checkEditSequence(t, loadVersioned(t, ins[int(input)%len(ins)]), seed, 20)
	})
}

// reuses count what a Translator reused over translations.
type reuses struct{ compiled, attached, fast int }

func (r *reuses) add(o reuses) {
	r.compiled, r.attached, r.fast = r.compiled+o.compiled, r.attached+o.attached, r.fast+o.fast
}

// checkEditSequence translates snap and steps edits of it with one
// Translator and compares each with Translate; it returns how many
// compiled routes (and of them without replay) and attachments the
// Translator reused.
func checkEditSequence(t *testing.T, snap *snapshot.Snapshot, seed uint64, steps int) (n reuses) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var tr Translator
	var log []string
	for step := 0; step <= steps; step++ {
		if step > 0 {
			var what string
			snap, what = edit(rng, snap)
			log = append(log, what)
		}
		wantIR, wantSt := Translate(snap)
		gotIR, gotSt := tr.Translate(snap)
		want, got := render(t, wantIR, wantSt), render(t, gotIR, gotSt)
		if !bytes.Equal(got, want) {
			t.Fatalf("after edits %v: the Translator's output differs from Translate's\n%s", log, diff(string(want), string(got)))
		}
		n.add(reuses{tr.Reused, tr.AttachReused, tr.FastReused})
	}
	return n
}

// loadVersioned parses a golden input and gives every HTTPRoute a UID,
// resourceVersion "1" and generation 1, as the API server would.
func loadVersioned(t *testing.T, in string) *snapshot.Snapshot {
	t.Helper()
	snap := loadGoldenInput(t, in)
	for _, r := range snap.HTTPRoutes {
		r.UID = types.UID("httproute/" + r.Namespace + "/" + r.Name)
		r.ResourceVersion, r.Generation = "1", 1
	}
	return snap
}

// versions counts resourceVersions handed out by edits, so that every
// edited or added object gets a new one, as in the API server.
var versions = 100

func nextVersion() string { versions++; return strconv.Itoa(versions) }

// edit returns a copy of snap with one random change (snap is not
// written: the Translator may hold its objects) and what it changed.
func edit(rng *rand.Rand, snap *snapshot.Snapshot) (*snapshot.Snapshot, string) {
	out := *snap
	switch rng.IntN(13) {
	case 0, 1, 2:
		if len(out.HTTPRoutes) == 0 {
			return &out, "nothing (no HTTPRoute)"
		}
		i := rng.IntN(len(out.HTTPRoutes))
		r := out.HTTPRoutes[i].DeepCopy()
		// A status write changes the resourceVersion, a spec write also
		// the generation: the Translator must tell them apart.
		var what string
		if rng.IntN(4) == 0 {
			r.Status.Parents = nil
			what = "status written"
		} else {
			what = changeRoute(rng, &out, r)
			r.Generation++
		}
		r.ResourceVersion = nextVersion()
		out.HTTPRoutes = slices.Clone(out.HTTPRoutes)
		out.HTTPRoutes[i] = r
		return &out, "HTTPRoute " + r.Name + ": " + what
	case 3:
		if len(out.HTTPRoutes) == 0 {
			return &out, "nothing (no HTTPRoute)"
		}
		r := out.HTTPRoutes[rng.IntN(len(out.HTTPRoutes))].DeepCopy()
		r.Name += "-copy" + strconv.Itoa(versions)
		r.UID = types.UID("httproute/" + r.Namespace + "/" + r.Name)
		r.ResourceVersion = nextVersion()
		out.HTTPRoutes = append(slices.Clone(out.HTTPRoutes), r)
		out.Sort()
		return &out, "HTTPRoute " + r.Name + " added"
	case 4:
		if len(out.HTTPRoutes) == 0 {
			return &out, "nothing (no HTTPRoute)"
		}
		i := rng.IntN(len(out.HTTPRoutes))
		name := out.HTTPRoutes[i].Name
		out.HTTPRoutes = slices.Delete(slices.Clone(out.HTTPRoutes), i, i+1)
		return &out, "HTTPRoute " + name + " deleted"
	case 5:
		if len(out.Services) == 0 {
			return &out, "nothing (no Service)"
		}
		i := rng.IntN(len(out.Services))
		if rng.IntN(3) == 0 {
			name := out.Services[i].Name
			out.Services = slices.Delete(slices.Clone(out.Services), i, i+1)
			return &out, "Service " + name + " deleted"
		}
		s := out.Services[i].DeepCopy()
		s.ResourceVersion = nextVersion()
		if len(s.Spec.Ports) > 0 {
			s.Spec.Ports[0].Port++
		}
		out.Services = slices.Clone(out.Services)
		out.Services[i] = s
		return &out, "Service " + s.Name + " port changed"
	case 6:
		if len(out.EndpointSlices) == 0 {
			return &out, "nothing (no EndpointSlice)"
		}
		i := rng.IntN(len(out.EndpointSlices))
		name := out.EndpointSlices[i].Name
		out.EndpointSlices = slices.Delete(slices.Clone(out.EndpointSlices), i, i+1)
		return &out, "EndpointSlice " + name + " deleted"
	case 7:
		if len(out.Gateways) == 0 {
			return &out, "nothing (no Gateway)"
		}
		i := rng.IntN(len(out.Gateways))
		g := out.Gateways[i].DeepCopy()
		if len(g.Spec.Listeners) == 0 {
			return &out, "nothing (Gateway without listeners)"
		}
		g.ResourceVersion = nextVersion()
		l := &g.Spec.Listeners[rng.IntN(len(g.Spec.Listeners))]
		var what string
		switch c := rng.IntN(7); c {
		case 0, 1, 2:
			what = editListenerField(c, &l.Hostname, &l.Port, &l.AllowedRoutes)
		case 3:
			k, v := selectorLabel(rng, &out)
			sel := gwv1.NamespacesFromSelector
			l.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &sel, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}}}
			what = "routes from namespaces labelled " + k + "=" + v
		case 4:
			kinds := []gwv1.RouteGroupKind{{Kind: "TCPRoute"}}
			if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
				kinds = nil
			}
			ar := gwv1.AllowedRoutes{}
			if l.AllowedRoutes != nil {
				ar = *l.AllowedRoutes
			}
			ar.Kinds = kinds
			l.AllowedRoutes = &ar
			what = "allowed kinds " + fmt.Sprint(kinds)
		case 5:
			l.AllowedRoutes = nil
			what = "routes from the same namespace"
		case 6:
			if g.Spec.AllowedListeners != nil {
				g.Spec.AllowedListeners = nil
				what = "no ListenerSets allowed"
			} else {
				all := gwv1.NamespacesFromAll
				g.Spec.AllowedListeners = &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: &all}}
				what = "ListenerSets from all namespaces"
			}
		}
		out.Gateways = slices.Clone(out.Gateways)
		out.Gateways[i] = g
		return &out, "Gateway " + g.Name + " listener " + string(l.Name) + ": " + what
	case 9:
		return editNamespace(rng, &out)
	case 10:
		return editListenerSet(rng, &out)
	case 11:
		return editDependency(rng, &out)
	case 12:
		// A new Snapshot of the same objects, as a build after a change
		// nobody translates (an unwatched field, a status write of ours
		// already seen) makes: every route's previous result holds.
		out.HTTPRoutes = slices.Clone(out.HTTPRoutes)
		out.Services = slices.Clone(out.Services)
		return &out, "nothing: the same objects in new lists"
	default:
		if len(out.ReferenceGrants) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(out.ReferenceGrants))
			name := out.ReferenceGrants[i].Name
			out.ReferenceGrants = slices.Delete(slices.Clone(out.ReferenceGrants), i, i+1)
			return &out, "ReferenceGrant " + name + " deleted"
		}
		if len(out.HTTPRoutes) == 0 || len(out.Services) == 0 {
			return &out, "nothing (no grant to add)"
		}
		from := out.HTTPRoutes[rng.IntN(len(out.HTTPRoutes))].Namespace
		to := out.Services[rng.IntN(len(out.Services))].Namespace
		rg := &gwv1.ReferenceGrant{Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gatewayGroup, Kind: "HTTPRoute", Namespace: gwv1.Namespace(from)}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
		}}
		rg.Namespace, rg.Name = to, "grant-"+strconv.Itoa(versions)
		rg.ResourceVersion = nextVersion()
		out.ReferenceGrants = append(slices.Clone(out.ReferenceGrants), rg)
		out.Sort()
		return &out, "ReferenceGrant " + to + "/" + rg.Name + " from " + from + " added"
	}
}

// editDependency changes the content of an object routes depend on,
// without changing a route: an EndpointSlice's endpoint address (which
// dependenciesSame does not compare), a Service's labels (into or out of
// the Istio mesh) or a ServiceEntry's port.
func editDependency(rng *rand.Rand, out *snapshot.Snapshot) (*snapshot.Snapshot, string) {
	switch rng.IntN(3) {
	case 0:
		if len(out.EndpointSlices) == 0 {
			return out, "nothing (no EndpointSlice)"
		}
		i := rng.IntN(len(out.EndpointSlices))
		es := out.EndpointSlices[i].DeepCopy()
		es.ResourceVersion = nextVersion()
		if len(es.Endpoints) == 0 || len(es.Endpoints[0].Addresses) == 0 {
			return out, "nothing (EndpointSlice without addresses)"
		}
		es.Endpoints[0].Addresses = []string{"10.9." + strconv.Itoa(versions%250) + ".1"}
		out.EndpointSlices = slices.Clone(out.EndpointSlices)
		out.EndpointSlices[i] = es
		return out, "EndpointSlice " + es.Name + " address " + es.Endpoints[0].Addresses[0]
	case 1:
		if len(out.Services) == 0 {
			return out, "nothing (no Service)"
		}
		i := rng.IntN(len(out.Services))
		s := out.Services[i].DeepCopy()
		s.ResourceVersion = nextVersion()
		what := "in the mesh"
		if s.Labels[labelIstioTLSMode] == "istio" {
			delete(s.Labels, labelIstioTLSMode)
			what = "out of the mesh"
		} else {
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[labelIstioTLSMode] = "istio"
		}
		out.Services = slices.Clone(out.Services)
		out.Services[i] = s
		return out, "Service " + s.Name + " " + what
	default:
		if len(out.ServiceEntries) == 0 {
			return out, "nothing (no ServiceEntry)"
		}
		i := rng.IntN(len(out.ServiceEntries))
		se := out.ServiceEntries[i].DeepCopy()
		se.ResourceVersion = nextVersion()
		if len(se.Spec.Ports) == 0 {
			return out, "nothing (ServiceEntry without ports)"
		}
		se.Spec.Ports[0].Number++
		out.ServiceEntries = slices.Clone(out.ServiceEntries)
		out.ServiceEntries[i] = se
		return out, "ServiceEntry " + se.Name + " port changed"
	}
}

// changeRoute changes r (a copy) in one of the ways that matter to its
// compilation or attachment, using snap's objects as new references.
func changeRoute(rng *rand.Rand, snap *snapshot.Snapshot, r *gwv1.HTTPRoute) string {
	switch rng.IntN(7) {
	case 0:
		if len(r.Spec.Rules) == 0 || len(r.Spec.Rules[0].BackendRefs) == 0 || len(snap.Services) == 0 {
			r.Spec.Rules = append(r.Spec.Rules, gwv1.HTTPRouteRule{})
			return "a rule without backends added"
		}
		s := snap.Services[rng.IntN(len(snap.Services))]
		ref := &r.Spec.Rules[0].BackendRefs[0].BackendObjectReference
		ref.Name = gwv1.ObjectName(s.Name)
		ns := gwv1.Namespace(s.Namespace)
		ref.Namespace = &ns
		if len(s.Spec.Ports) > 0 {
			p := gwv1.PortNumber(s.Spec.Ports[0].Port)
			ref.Port = &p
		}
		return "backend " + s.Namespace + "/" + s.Name
	case 1:
		prefix := gwv1.PathMatchPathPrefix
		value := "/changed" + strconv.Itoa(versions)
		if len(r.Spec.Rules) == 0 {
			r.Spec.Rules = []gwv1.HTTPRouteRule{{}}
		}
		r.Spec.Rules[0].Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &prefix, Value: &value}}}
		return "path " + value
	case 2:
		r.Spec.Hostnames = []gwv1.Hostname{"edited.example.com"}
		return "hostname edited.example.com"
	case 3:
		if len(r.Spec.Rules) > 0 {
			r.Spec.Rules = r.Spec.Rules[1:]
			return "first rule removed"
		}
		return "nothing (no rules)"
	case 4:
		for i := range r.Spec.ParentRefs {
			s := gwv1.SectionName("http")
			r.Spec.ParentRefs[i].SectionName = &s
		}
		return "parentRefs to section http"
	case 5:
		// A port some listener has (or had, before an edit of it).
		port := gwv1.PortNumber(80)
		if len(snap.Gateways) > 0 {
			if ls := snap.Gateways[rng.IntN(len(snap.Gateways))].Spec.Listeners; len(ls) > 0 {
				port = ls[rng.IntN(len(ls))].Port + gwv1.PortNumber(rng.IntN(2))
			}
		}
		for i := range r.Spec.ParentRefs {
			r.Spec.ParentRefs[i].Port = &port
		}
		return "parentRefs to port " + strconv.Itoa(int(port))
	default:
		if len(r.Spec.Rules) == 0 || len(r.Spec.Rules[0].BackendRefs) == 0 {
			return "nothing (no backendRef)"
		}
		ref := &r.Spec.Rules[0].BackendRefs[0].BackendObjectReference
		ref.Name = "missing"
		return "backend missing"
	}
}

// selectorLabels are the label pairs the Snapshot's label selectors match
// (listeners' allowedRoutes, Gateways' allowedListeners), in a fixed order.
func selectorLabels(snap *snapshot.Snapshot) [][2]string {
	var out [][2]string
	add := func(sel *metav1.LabelSelector) {
		if sel == nil {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(sel.MatchLabels)) {
			out = append(out, [2]string{k, sel.MatchLabels[k]})
		}
	}
	listeners := func(ar *gwv1.AllowedRoutes) {
		if ar != nil && ar.Namespaces != nil {
			add(ar.Namespaces.Selector)
		}
	}
	for _, g := range snap.Gateways {
		for _, l := range g.Spec.Listeners {
			listeners(l.AllowedRoutes)
		}
		if al := g.Spec.AllowedListeners; al != nil && al.Namespaces != nil {
			add(al.Namespaces.Selector)
		}
	}
	for _, s := range snap.ListenerSets {
		for _, l := range s.Spec.Listeners {
			listeners(l.AllowedRoutes)
		}
	}
	return out
}

// selectorLabel is a label some selector of snap matches, or a new one.
func selectorLabel(rng *rand.Rand, snap *snapshot.Snapshot) (string, string) {
	if ls := selectorLabels(snap); len(ls) > 0 {
		l := ls[rng.IntN(len(ls))]
		return l[0], l[1]
	}
	return "edited", "yes"
}

// editNamespace adds to or removes from a Namespace a label that a
// selector matches.
func editNamespace(rng *rand.Rand, out *snapshot.Snapshot) (*snapshot.Snapshot, string) {
	k, v := selectorLabel(rng, out)
	var ns *corev1.Namespace
	i := -1
	if len(out.Namespaces) > 0 && rng.IntN(4) != 0 {
		i = rng.IntN(len(out.Namespaces))
		ns = out.Namespaces[i].DeepCopy()
	} else {
		// A Namespace the Snapshot did not have: one of a route's.
		name := "default"
		if len(out.HTTPRoutes) > 0 {
			name = out.HTTPRoutes[rng.IntN(len(out.HTTPRoutes))].Namespace
		}
		if j := slices.IndexFunc(out.Namespaces, func(n *corev1.Namespace) bool { return n.Name == name }); j >= 0 {
			i, ns = j, out.Namespaces[j].DeepCopy()
		} else {
			ns = &corev1.Namespace{}
			ns.Name = name
		}
	}
	ns.ResourceVersion = nextVersion()
	what := "Namespace " + ns.Name + ": label " + k + "=" + v
	if ns.Labels[k] == v {
		delete(ns.Labels, k)
		what += " removed"
	} else {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[k] = v
		what += " added"
	}
	if i < 0 {
		out.Namespaces = append(slices.Clone(out.Namespaces), ns)
		out.Sort()
		return out, what + " (new Namespace)"
	}
	out.Namespaces = slices.Clone(out.Namespaces)
	out.Namespaces[i] = ns
	return out, what
}

// editListenerSet changes a listener of a ListenerSet (hostname, port,
// allowed namespaces) or deletes the ListenerSet.
func editListenerSet(rng *rand.Rand, out *snapshot.Snapshot) (*snapshot.Snapshot, string) {
	if len(out.ListenerSets) == 0 {
		return out, "nothing (no ListenerSet)"
	}
	i := rng.IntN(len(out.ListenerSets))
	s := out.ListenerSets[i].DeepCopy()
	if len(s.Spec.Listeners) == 0 || rng.IntN(4) == 0 {
		out.ListenerSets = slices.Delete(slices.Clone(out.ListenerSets), i, i+1)
		return out, "ListenerSet " + s.Name + " deleted"
	}
	s.ResourceVersion = nextVersion()
	s.Generation++
	l := &s.Spec.Listeners[rng.IntN(len(s.Spec.Listeners))]
	what := editListenerField(rng.IntN(3), &l.Hostname, &l.Port, &l.AllowedRoutes)
	out.ListenerSets = slices.Clone(out.ListenerSets)
	out.ListenerSets[i] = s
	return out, "ListenerSet " + s.Name + " listener " + string(l.Name) + ": " + what
}

// editListenerField makes one of the listener edits a Gateway's and a
// ListenerSet's listeners share (their fields have the same types): 0 the
// hostname, 1 the port, 2 routes from all namespaces. It says what it did.
func editListenerField(which int, hostname **gwv1.Hostname, port *gwv1.PortNumber, routes **gwv1.AllowedRoutes) string {
	switch which {
	case 0:
		h := gwv1.Hostname("*.example.com")
		if *hostname != nil {
			h = "changed." + **hostname
		}
		*hostname = &h
		return "hostname " + string(h)
	case 1:
		*port++
		return "port " + strconv.Itoa(int(*port))
	default:
		all := gwv1.NamespacesFromAll
		*routes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}
		return "routes from all namespaces"
	}
}
