package gatewayapi

import (
	"encoding/json"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"

	"github.com/edgeway/edgeway/controller/ir"
)

// isolated golden cases (testdata/isolated-*.in.yaml) are translated in
// Kubernetes mode (Snapshot.IsolateGateways); their output is the IR split
// per Gateway, the shape each data plane receives.
func isolated(name string) bool { return strings.HasPrefix(name, "isolated-") }

// validateCase checks the IR a data plane would receive: the whole IR in
// file mode, each Gateway's part in Kubernetes mode (the whole IR of an
// isolated translation is not servable as one: its sockets repeat ports).
func validateCase(t *testing.T, name string, out *ir.IR) {
	t.Helper()
	if !isolated(name) {
		if err := out.Validate(); err != nil {
			t.Errorf("IR does not validate: %v", err)
		}
		return
	}
	for gw, part := range ir.SplitByGateway(out) {
		if err := part.Validate(); err != nil {
			t.Errorf("IR of Gateway %s does not validate: %v", gw, err)
		}
	}
}

func renderCase(t *testing.T, name string, out *ir.IR, st *Statuses) []byte {
	t.Helper()
	if !isolated(name) {
		return render(t, out, st)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	parts := ir.SplitByGateway(out)
	var byGateway yaml.MapSlice
	for _, gw := range ir.Gateways(parts) {
		byGateway = append(byGateway, yaml.MapItem{Key: gw, Value: redact(parts[gw])})
	}
	b, err := yaml.Marshal(yaml.MapSlice{{Key: "statuses", Value: generic}, {Key: "irByGateway", Value: byGateway}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// redact replaces private keys, so golden files hold no key material.
func redact(out *ir.IR) *ir.IR {
	redacted := *out
	redacted.Secrets = nil
	for _, s := range out.Secrets {
		c := *s
		if c.PrivateKey != "" {
			c.PrivateKey = "<redacted>"
		}
		redacted.Secrets = append(redacted.Secrets, &c)
	}
	return &redacted
}
