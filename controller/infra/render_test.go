package infra

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	kube "github.com/edgeway/edgeway/controller/source/kube"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml")

// testOptions are the controller flags every golden case renders with.
var testOptions = Options{
	ControllerName: "edgeway.dev/gateway-controller",
	Image:          "ghcr.io/edgeway/edgeway:v0.0.0-test",
	XDSAddress:     "edgeway-xds.edgeway-system.svc:18000",
}

// renderCase is a testdata/NAME.in.yaml: a Gateway and the EdgewayConfig
// specs of its class and of its own spec.infrastructure.parametersRef.
type renderCase struct {
	ClassConfig   *v1alpha1.EdgewayConfigSpec `json:"classConfig,omitempty"`
	GatewayConfig *v1alpha1.EdgewayConfigSpec `json:"gatewayConfig,omitempty"`
	Gateway       *gwv1.Gateway               `json:"gateway"`
}

// TestRenderGolden renders each testdata/NAME.in.yaml and compares the
// problem and the objects with NAME.out.yaml (-update rewrites them).
func TestRenderGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c renderCase
			if err := yaml.UnmarshalStrict(data, &c); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			got := renderYAML(t, &c)
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (go test ./controller/infra -update, then review the diff):\n%s", out, got)
			}
		})
	}
}

func renderYAML(t *testing.T, c *renderCase) []byte {
	t.Helper()
	objs, prob := render(c.Gateway, nil, mergeConfig(testOptions, c.ClassConfig, c.GatewayConfig), testOptions)
	var b bytes.Buffer
	if prob != nil {
		fmt.Fprintf(&b, "# problem: %s: %s\n", prob.Reason, prob.Message)
	} else {
		b.WriteString("# problem: none\n")
	}
	for _, o := range []any{objs.ServiceAccount, objs.Service, objs.Deployment, objs.PodDisruptionBudget} {
		if o == nil || (fmt.Sprint(o) == "<nil>") {
			continue
		}
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

// TestProvisionedObjectsMatchTheCacheSelector: the manager's cache keeps only
// Deployments, ServiceAccounts, NetworkPolicies and PodDisruptionBudgets
// carrying kube.ManagedByLabel; objects we
// render must carry it, or the provisioner would never see them change.
func TestProvisionedObjectsMatchTheCacheSelector(t *testing.T) {
	if LabelManagedBy != kube.ManagedByLabel || managedBy != kube.ManagedByValue {
		t.Fatalf("infra labels %s=%s, cache selects %s=%s", LabelManagedBy, managedBy, kube.ManagedByLabel, kube.ManagedByValue)
	}
	gw := &gwv1.Gateway{}
	gw.Name, gw.Namespace = "web", "default"
	if got := objectLabels(gw)[kube.ManagedByLabel]; got != kube.ManagedByValue {
		t.Fatalf("rendered label %q", got)
	}
}
