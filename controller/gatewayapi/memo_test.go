package gatewayapi

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/edgeway/edgeway/controller/snapshot"
)

// TestTranslatorEqualsTranslate: over every golden input and a sequence
// of random edits of it (an HTTPRoute changed, added or deleted; a
// Service's port changed or the Service deleted; an EndpointSlice
// deleted; a Gateway listener's hostname, port or allowed namespaces
// changed; a ReferenceGrant deleted or one added), a Translator's output
// equals Translate's for every Snapshot of the sequence, IR and statuses
// byte for byte. It also fails if the Translator never reused anything,
// which would make the comparison vacuous.
func TestTranslatorEqualsTranslate(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	reused := 0
	for i, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			reused += checkEditSequence(t, loadVersioned(t, in), uint64(i), 40)
		})
	}
	if reused == 0 {
		t.Fatal("the Translator reused no compiled HTTPRoute: the comparison proves nothing")
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

// checkEditSequence translates snap and steps edits of it with one
// Translator and compares each with Translate; it returns how many
// compiled routes the Translator reused.
func checkEditSequence(t *testing.T, snap *snapshot.Snapshot, seed uint64, steps int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var tr Translator
	reused := 0
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
		reused += tr.Reused
	}
	return reused
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
	switch rng.IntN(9) {
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
		switch rng.IntN(3) {
		case 0:
			h := gwv1.Hostname("*.example.com")
			if l.Hostname != nil {
				h = "changed." + *l.Hostname
			}
			l.Hostname = &h
			what = "hostname " + string(h)
		case 1:
			l.Port++
			what = "port " + strconv.Itoa(int(l.Port))
		case 2:
			all := gwv1.NamespacesFromAll
			l.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}
			what = "routes from all namespaces"
		}
		out.Gateways = slices.Clone(out.Gateways)
		out.Gateways[i] = g
		return &out, "Gateway " + g.Name + " listener " + string(l.Name) + ": " + what
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

// changeRoute changes r (a copy) in one of the ways that matter to its
// compilation or attachment, using snap's objects as new references.
func changeRoute(rng *rand.Rand, snap *snapshot.Snapshot, r *gwv1.HTTPRoute) string {
	switch rng.IntN(6) {
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
	default:
		if len(r.Spec.Rules) == 0 || len(r.Spec.Rules[0].BackendRefs) == 0 {
			return "nothing (no backendRef)"
		}
		ref := &r.Spec.Rules[0].BackendRefs[0].BackendObjectReference
		ref.Name = "missing"
		return "backend missing"
	}
}
