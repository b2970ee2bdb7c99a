package chart_test

import (
	"strings"
	"testing"
)

// A wrong value must stop `helm template` (and so `helm install`) and `helm lint`, naming the
// value: values.schema.json for types, enums and ranges, a template `fail` for what a schema
// cannot say.
func TestWrongValuesAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		want   []string // substrings of helm's error
	}{
		{"negative replicas", map[string]any{"replicaCount": -1}, []string{"replicaCount", "minimum"}},
		{"replicas of the wrong type", map[string]any{"replicaCount": "two"}, []string{"replicaCount", "want integer", "got string"}},
		{"zero replicas", map[string]any{"replicaCount": 0}, []string{"replicaCount", "minimum"}},
		{"unknown key", map[string]any{"replicas": 2}, []string{"additional properties 'replicas' not allowed"}},
		{"unknown nested key", map[string]any{"image": map[string]any{"name": "x"}}, []string{"/image", "additional properties 'name' not allowed"}},
		{"pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, []string{"/image/pullPolicy", "Always", "IfNotPresent", "Never"}},
		{"image tag as a number", map[string]any{"image": map[string]any{"tag": 1.5}}, []string{"/image/tag", "want string"}},
		{"digest", map[string]any{"image": map[string]any{"digest": "latest"}}, []string{"/image/digest"}},
		{"ACME self-check timeout not a duration", map[string]any{"acme": map[string]any{"selfCheckTimeout": "soon"}}, []string{"/acme/selfCheckTimeout"}},
		{"ACME enabled not a boolean", map[string]any{"acme": map[string]any{"enabled": "yes"}}, []string{"/acme/enabled", "want boolean"}},
		{"xds port range", map[string]any{"xds": map[string]any{"port": 70000}}, []string{"/xds/port", "maximum"}},
		{"admin port type", map[string]any{"admin": map[string]any{"port": "19000"}}, []string{"/admin/port", "want integer"}},
		{"log level", map[string]any{"logging": map[string]any{"level": "verbose"}}, []string{"/logging/level", "debug"}},
		{"anti-affinity preset", map[string]any{"podAntiAffinity": "always"}, []string{"/podAntiAffinity", "soft"}},
		{"memory quantity", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "512MB"}}}, []string{"/resources/limits/memory"}},
		{"annotation value not a string", map[string]any{"podAnnotations": map[string]any{"prometheus.io/port": 19000}}, []string{"/podAnnotations/prometheus.io~1port", "want string"}},
		{"controllerName without a domain", map[string]any{"controllerName": "edgeway"}, []string{"/controllerName"}},
		{"GatewayClass name", map[string]any{"gatewayClass": map[string]any{"name": "Edge_Way"}}, []string{"/gatewayClass/name"}},
		{"probe period", map[string]any{"readinessProbe": map[string]any{"periodSeconds": 0}}, []string{"/readinessProbe/periodSeconds", "minimum"}},
		{"PDB minAvailable", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 0}}, []string{"/podDisruptionBudget/minAvailable", "minimum"}},
		{"EdgewayConfig service type", map[string]any{"edgewayConfig": map[string]any{"create": true, "spec": map[string]any{"service": map[string]any{"type": "External"}}}},
			[]string{"/edgewayConfig/spec/service/type", "LoadBalancer"}},
		{"EdgewayConfig unknown field", map[string]any{"edgewayConfig": map[string]any{"spec": map[string]any{"replica": 2}}},
			[]string{"/edgewayConfig/spec", "additional properties 'replica' not allowed"}},
		{"EdgewayConfig negative replicas", map[string]any{"edgewayConfig": map[string]any{"spec": map[string]any{"replicas": -2}}},
			[]string{"/edgewayConfig/spec/replicas", "minimum"}},
		// Cross-field rules (schema if/then).
		{"several replicas without leader election", map[string]any{"replicaCount": 3, "leaderElection": map[string]any{"enabled": false}},
			[]string{"/leaderElection/enabled", "true"}},
		{"parametersRef to no EdgewayConfig", map[string]any{"gatewayClass": map[string]any{"useEdgewayConfig": true}},
			[]string{"/edgewayConfig"}},
		// What only a template can check: values.schema.json cannot compare two values.
		{"PDB that blocks every drain", map[string]any{"replicaCount": 2, "podDisruptionBudget": map[string]any{"minAvailable": 2}},
			[]string{"podDisruptionBudget.minAvailable (2) must be below replicaCount (2)"}},
		{"existing ServiceAccount without a name", map[string]any{"serviceAccount": map[string]any{"create": false}},
			[]string{"/serviceAccount/name"}},
		{"same port twice", map[string]any{"admin": map[string]any{"port": 18000}},
			[]string{"xds.port and admin.port must differ"}},
	}
	// helm lint renders with `fail` downgraded to a logged INFO line (Helm's lint mode), so for
	// the template-only rules lint reports the message without failing; template and install
	// refuse.
	templateOnly := map[string]bool{"PDB that blocks every drain": true, "same port twice": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHelm(t, templateArgs(t, tc.values)...)
			if err == nil {
				t.Fatalf("helm template accepted %v", tc.values)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			out, err := runHelmCombined(t, "lint", ".", "--namespace", namespace, "-f", valuesFile(t, tc.values))
			switch {
			case !templateOnly[tc.name] && err == nil:
				t.Errorf("helm lint accepted %v:\n%s", tc.values, out)
			case templateOnly[tc.name] && !strings.Contains(out, tc.want[0]):
				t.Errorf("helm lint does not report %q:\n%s", tc.want[0], out)
			}
		})
	}
}
