package snapshot

import (
	"strings"
	"testing"
)

// EdgewayConfig YAML is loaded and validated against edgeway's own CRD.
func TestParseEdgewayConfig(t *testing.T) {
	good := "apiVersion: gateway.edgeway.dev/v1alpha1\nkind: EdgewayConfig\nmetadata:\n  name: small\n  namespace: infra\nspec:\n  replicas: 2\n  service: {type: NodePort, annotations: {a: b}}\n"
	snap, err := Parse("c.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.EdgewayConfigs) != 1 || *snap.EdgewayConfigs[0].Spec.Replicas != 2 || snap.EdgewayConfigs[0].Spec.Service.Type != "NodePort" {
		t.Fatalf("EdgewayConfigs = %+v", snap.EdgewayConfigs)
	}
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: gateway.edgeway.dev/v1alpha1\nkind: EdgewayConfig\nmetadata:\n  name: x\nspec:\n  service: {type: Internal}\n", "spec.service.type"},
		{"apiVersion: gateway.edgeway.dev/v1alpha1\nkind: EdgewayConfig\nmetadata:\n  name: x\nspec:\n  replicas: -1\n", "spec.replicas"},
		{"apiVersion: gateway.edgeway.dev/v1alpha1\nkind: EdgewayConfig\nmetadata:\n  name: x\nspec:\n  replica: 1\n", `unknown field "replica"`},
	} {
		_, err := Parse("bad.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "EdgewayConfig default/x") {
			t.Errorf("error %v, want one naming EdgewayConfig default/x and %q", err, tc.want)
		}
	}
}
