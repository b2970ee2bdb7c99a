package main

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are the import path prefixes the data-plane-only binary
// must not link: the controller and what only it needs (Kubernetes and
// Istio clients, the CEL evaluator, ACME and its DNS providers' cloud
// SDKs), which made `edgeway dataplane` a 100 MB binary whose pages a data
// plane keeps resident.
//
// cel.dev/expr is allowed: it is only the CEL AST as protobuf messages,
// which Envoy's xDS types (github.com/cncf/xds/go/xds/type/v3) import; the
// evaluator is github.com/google/cel-go.
var forbiddenDeps = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"istio.io/",
	"github.com/google/cel-go",
	"github.com/antlr4-go/",
	"github.com/go-acme/",
	"github.com/aws/",
	"github.com/miekg/dns",
	"github.com/edgeway/edgeway/controller/",
	"github.com/edgeway/edgeway/certs/",
}

// TestDependencies: `go list -deps` of this command names none of
// forbiddenDeps. A change that makes dataplane/... import the controller
// (or one of its libraries) fails here, naming the package and the chain.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !contains(deps, "github.com/edgeway/edgeway/dataplane/proxy") {
		t.Fatalf("go list -deps listed %d packages without dataplane/proxy: not the list of this command:\n%s", len(deps), out)
	}
	for _, d := range deps {
		for _, f := range forbiddenDeps {
			if strings.HasPrefix(d, f) {
				t.Errorf("edgeway-dataplane links %s (forbidden prefix %q): find who imports it with `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/edgeway-dataplane | grep %s` and keep the data plane free of it", d, f, d)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
