package snapshot

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEmbeddedCRDsCompile: every served version of every CRD edgeway ships
// compiles. They are compiled on first use, so this is where a CRD that
// hack/sync-crds.sh brought in and the pinned apiextensions cannot compile
// shows up, not at a user's first object of that version.
func TestEmbeddedCRDsCompile(t *testing.T) {
	set := freshCRDSet(t)
	n := 0
	for kind, versions := range set.byKind {
		for name, v := range versions {
			if _, err := v.get(); err != nil {
				t.Errorf("%s %s: %v", kind, name, err)
			}
			n++
		}
	}
	// 11 files of gateway-api and Istio CRDs with 22 served versions, and
	// edgeway's own two kinds with one each.
	if n != 24 {
		t.Errorf("%d served versions compiled; want 24: the 22 of the CRD files and edgeway's own two", n)
	}
}

// TestCRDSchemaCompiledOnFirstUse: loading an HTTPRoute v1 compiles that
// version's schema, and only it: not HTTPRoute v1beta1, not the kinds the
// configuration does not use. Defaults and CEL rules still apply.
func TestCRDSchemaCompiledOnFirstUse(t *testing.T) {
	set := freshCRDSet(t)
	for kind, versions := range set.byKind {
		for name, v := range versions {
			if v.compiled != nil {
				t.Fatalf("%s %s compiled before any object of it was loaded", kind, name)
			}
		}
	}
	// A rule without matches gets the CRD's default: a PathPrefix match on /.
	out, err := set.apply("gateway.networking.k8s.io/v1", "HTTPRoute",
		[]byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"rules":[{}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec struct {
			Rules []struct {
				Matches []struct {
					Path struct{ Type, Value string } `json:"path"`
				} `json:"matches"`
			} `json:"rules"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj.Spec.Rules) != 1 || len(obj.Spec.Rules[0].Matches) != 1 || obj.Spec.Rules[0].Matches[0].Path.Type != "PathPrefix" || obj.Spec.Rules[0].Matches[0].Path.Value != "/" {
		t.Fatalf("the CRD's default match missing: %s", out)
	}
	// The CEL rule on a path match, from the compiled schema.
	_, err = set.apply("gateway.networking.k8s.io/v1", "HTTPRoute",
		[]byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"a"}}]}]}}`))
	if err == nil || !strings.Contains(err.Error(), "must be an absolute path") {
		t.Fatalf("PathPrefix without a leading slash: err = %v; want the CEL rule's message", err)
	}

	httpRoute := set.byKind["gateway.networking.k8s.io/HTTPRoute"]
	if httpRoute["v1"].compiled == nil {
		t.Error("HTTPRoute v1 not compiled after an HTTPRoute v1 was loaded")
	}
	for kind, versions := range set.byKind {
		for name, v := range versions {
			if v.compiled != nil && !(kind == "gateway.networking.k8s.io/HTTPRoute" && name == "v1") {
				t.Errorf("%s %s compiled, though nothing of it was loaded", kind, name)
			}
		}
	}
}

// freshCRDSet is the embedded CRDs in a set of the test's own (the
// package's set is shared by every test).
func freshCRDSet(t *testing.T) *crdSet {
	t.Helper()
	set, err := embeddedCRDs()
	if err != nil {
		t.Fatal(err)
	}
	return set
}
