package chart_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/edgeway/edgeway/conformance/kubebin"
	edgewayv1alpha1 "github.com/edgeway/edgeway/controller/apis/v1alpha1"
)

// The tests run the real helm (helm.sh/helm/v4, built from the Go module proxy by
// hack/kube-bins.sh through conformance/kubebin) against this directory: what they check is
// what `helm install` would send to a cluster.

const (
	release   = "edgeway"
	namespace = "edgeway-system"
)

// helmPath returns the helm binary. With -short it never starts the (long, cold) build of the
// kube binaries: it skips unless they are already built.
func helmPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		dir, err := exec.Command("bash", "../../hack/kube-bins.sh", "--print-dir").Output()
		p := filepath.Join(strings.TrimSpace(string(dir)), "helm")
		if _, statErr := os.Stat(p); err != nil || statErr != nil {
			t.Skip("-short: helm is not built yet (make kube-bins)")
		}
		return p
	}
	p, err := kubebin.Path("helm")
	if err != nil {
		t.Fatalf("helm binary: %v", err)
	}
	return p
}

// runHelm runs helm with args in this directory; it returns stdout, and an error carrying
// stderr when helm fails.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := execHelm(t, args...)
	if err != nil {
		return stdout, errors.New(strings.TrimSpace(stderr + "\n" + stdout))
	}
	return stdout, nil
}

// runHelmCombined returns stdout and stderr together (lint reports on both).
func runHelmCombined(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := execHelm(t, args...)
	return stdout + stderr, err
}

func execHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	// A private helm home: no repositories, plugins or cache of the user leak into the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"), // template and lint never need a cluster
	)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err = cmd.Run()
	t.Logf("helm %s (%s)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return o.String(), e.String(), err
}

// valuesFile writes values as a YAML file for -f: exact types, unlike --set's guessing.
func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// templateArgs is `helm template` of this chart as release edgeway in edgeway-system.
func templateArgs(t *testing.T, values map[string]any, extra ...string) []string {
	args := []string{"template", release, ".", "--namespace", namespace}
	if values != nil {
		args = append(args, "-f", valuesFile(t, values))
	}
	return append(args, extra...)
}

// render runs `helm template` with values and decodes every object strictly.
func render(t *testing.T, values map[string]any, extra ...string) *rendered {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, values, extra...)...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return decodeAll(t, out)
}

// scheme knows every kind the chart renders. Decoding is strict: a field a template misspells
// or puts at the wrong level fails the test, as the API server's strict field validation would.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(gatewayv1.Install(s))
	utilruntime.Must(edgewayv1alpha1.AddToScheme(s))
	return s
}()

var decoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// rendered is the output of one `helm template`, objects in order, and the raw YAML.
type rendered struct {
	objects []runtime.Object
	raw     string
}

func decodeAll(t *testing.T, out string) *rendered {
	t.Helper()
	r := &rendered{raw: out}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("splitting helm output: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding rendered object: %v\n%s", err, doc)
		}
		if obj.GetObjectKind().GroupVersionKind().Empty() {
			obj.GetObjectKind().SetGroupVersionKind(*gvk)
		}
		r.objects = append(r.objects, obj)
	}
	return r
}

// stripComments drops the "# Source:" lines helm prints, to spot empty documents.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range strings.SplitSeq(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

// kinds lists "Kind/name" of every object, in order.
func (r *rendered) kinds() []string {
	var ks []string
	for _, o := range r.objects {
		m, _ := o.(interface{ GetName() string })
		ks = append(ks, o.GetObjectKind().GroupVersionKind().Kind+"/"+m.GetName())
	}
	return ks
}

// one returns the only object of type T; it fails the test when there are none or several.
func one[T runtime.Object](t *testing.T, r *rendered) T {
	t.Helper()
	all := all[T](r)
	if len(all) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d in %v", zero, len(all), r.kinds())
	}
	return all[0]
}

func all[T runtime.Object](r *rendered) []T {
	var out []T
	for _, o := range r.objects {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
