package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Gateway API release channels (the gateway.networking.k8s.io/channel
// annotation of every CRD of a bundle).
const (
	// ChannelStandard: the standard CRDs of the same bundle version, for a
	// cluster that stays on the standard channel. The API server prunes the
	// fields of experimental features from them silently (e.g. HTTPRoute
	// rules[].retry), so a route asking for retries reaches the controller
	// without them.
	ChannelStandard = "standard"
	// ChannelExperimental: the chart's own crds/ (hack/sync-crds.sh), as
	// `helm install` puts them. They are a superset of the standard ones
	// (same storage versions) and carry the fields of experimental features.
	ChannelExperimental = "experimental"
)

// crdFieldManager owns what InstallCRDs applies.
const crdFieldManager = "edgeway-deploy"

// gatewayAPIModule provides the CRDs of each channel (config/crd/<channel>).
const gatewayAPIModule = "sigs.k8s.io/gateway-api"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs does what a user does before `helm install --skip-crds` to
// run a Gateway API channel the chart does not ship: it server-side applies
// the Gateway API CRDs of channel from the sigs.k8s.io/gateway-api module
// version in go.mod (the bundle the chart's crds/ come from), plus the
// chart's own other CRDs (gateway.edgeway.dev), and waits until every one
// is established. Ownership is forced: the CRDs may have been installed
// before by helm (the other channel), and this install replaces them.
func InstallCRDs(ctx context.Context, cfg *rest.Config, root, channel string) error {
	files, err := crdFiles(ctx, root, channel)
	if err != nil {
		return err
	}
	var crds []*unstructured.Unstructured
	for _, f := range files {
		objs, err := readCRDs(f)
		if err != nil {
			return err
		}
		crds = append(crds, objs...)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	res := dyn.Resource(crdResource)
	for _, crd := range crds {
		if _, err := res.Apply(ctx, crd.GetName(), crd, metav1.ApplyOptions{FieldManager: crdFieldManager, Force: true}); err != nil {
			return fmt.Errorf("deploy: apply CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, res, crd.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// crdFiles lists the CRD files of a channel: the module's Gateway API CRDs
// (gateway.networking.k8s.io and, in experimental, gateway.networking.x-k8s.io,
// as the upstream install bundles have them; not the safe-upgrades
// ValidatingAdmissionPolicy, which forbids exactly this change of channel),
// then the chart's CRDs of other groups.
func crdFiles(ctx context.Context, root, channel string) ([]string, error) {
	if channel != ChannelStandard && channel != ChannelExperimental {
		return nil, fmt.Errorf("deploy: Gateway API channel %q: want %q or %q", channel, ChannelStandard, ChannelExperimental)
	}
	mod, err := moduleDir(ctx, root, gatewayAPIModule)
	if err != nil {
		return nil, err
	}
	gw, err := filepath.Glob(filepath.Join(mod, "config", "crd", channel, "gateway.networking.*.yaml"))
	if err != nil {
		return nil, err
	}
	gw = slices.DeleteFunc(gw, func(f string) bool { return strings.Contains(filepath.Base(f), "_vap_") })
	if len(gw) == 0 {
		return nil, fmt.Errorf("deploy: no Gateway API CRDs in %s/config/crd/%s: is the module cache complete? (go mod download %s)", mod, channel, gatewayAPIModule)
	}
	chart, err := filepath.Glob(filepath.Join(root, "charts", "edgeway", "crds", "*.yaml"))
	if err != nil {
		return nil, err
	}
	chart = slices.DeleteFunc(chart, func(f string) bool { return strings.HasPrefix(filepath.Base(f), "gateway.networking.") })
	return append(gw, chart...), nil
}

// moduleDir is the module cache directory of a module of root's go.mod.
func moduleDir(ctx context.Context, root, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("deploy: locate %s in the module cache (go list -m in %s): %v %s; run `go mod download %s`", module, root, err, strings.TrimSpace(stderr.String()), module)
	}
	return dir, nil
}

// readCRDs decodes the CustomResourceDefinitions of a YAML file (one or
// more documents); their status is the server's and is dropped.
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("deploy: %s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue // an empty document
		}
		if u.GetAPIVersion() != "apiextensions.k8s.io/v1" || u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("deploy: %s: a %s %s where only CustomResourceDefinitions are expected", path, u.GetAPIVersion(), u.GetKind())
		}
		delete(u.Object, "status")
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("deploy: %s holds no CustomResourceDefinition", path)
	}
	return out, nil
}

// crdEstablishTimeout: establishing takes well under a second; the bound
// only turns a stuck API server into an error.
const crdEstablishTimeout = time.Minute

func waitEstablished(ctx context.Context, res dynamic.NamespaceableResourceInterface, name string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, crdEstablishTimeout, true, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		status := map[string]string{}
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok {
				t, _ := m["type"].(string)
				s, _ := m["status"].(string)
				status[t] = s
				if t == "NamesAccepted" && s == "False" {
					msg, _ := m["message"].(string)
					return false, fmt.Errorf("deploy: CRD %s: names not accepted: %s", name, msg)
				}
			}
		}
		last = fmt.Sprintf("conditions %v", status)
		return status["Established"] == "True", nil
	})
	if err != nil {
		return fmt.Errorf("deploy: CRD %s not established within %s (last: %s): %w", name, crdEstablishTimeout, last, err)
	}
	return nil
}
